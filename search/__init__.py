"""Image embeddings and the Milvus vector index of catalogue stock images.

The hand-made descriptor is numpy only; the learned embedders run torch (on the shared backbone, `backbones`); the
index speaks pymilvus. No Django, no Celery, and nothing of `imagegen`: `workers/` joins it to the database, and
`offline/` trains and judges it on the generator's outputs.
"""
