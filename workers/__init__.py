"""Celery workers: the glue that joins the Django models with `imagegen` and `search`, in one direction.

    celery_app, management   the Celery app (`celery -A workers.celery_app`) and the product's management commands
    tasks                    thin task bodies that take primary keys
    stages                   what the tasks do, one module per stage (workers.stages)
    runtime                  the per-process model and index caches
    index_endpoint           where the embedded index's owner publishes its milvus-lite server

Importing this package, `celery_app` or `tasks` is cheap (no torch, no mediapipe, no pymilvus): `tasks` imports the
stages inside its task bodies, so the heavy modules load in the worker child that runs a task, never in the prefork
parent, and never in the web process (which does not even list this app). Development tooling lives in `devtools`.
"""
