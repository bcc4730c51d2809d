"""The Django project: catalogue, listings, buyer searches, jobs and the REST API.

This package never imports `imagegen`, `search`, `backbones`, `offline`, `workers` or `devtools`: the web process
stays light (no torch, no mediapipe, no milvus-lite file) and hands work to Celery workers by task name
(`marketplace.jobs.queue`). Inside it, `marketplace.jobs` is the bottom app: it imports no other app.
"""
