"""Image embeddings and the Milvus vector index of catalogue stock images.

Pure numpy + pymilvus: no Django, no Celery, no torch. `workers/` joins it to the database.
"""
