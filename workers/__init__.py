"""Celery workers: the only code that joins the Django models with `imagegen` and `search`.

Importing this package is cheap (no torch, no mediapipe, no pymilvus): the heavy modules load lazily inside the
worker child that runs a task, never in the prefork parent, and never in the web process (which does not even list
this app). Layout: `celery_app` (the app), `tasks` (thin task bodies), `pipeline` (what the tasks do, as plain
functions), `runtime` (the per-process model and index cache), `management/commands` (seed, train, re-index, demo).
"""
