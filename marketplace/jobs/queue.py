"""Publishing tasks by name from any process, without importing the workers' code.

A publish can fail (the broker is down: kombu raises OperationalError after about 0.6 s). That never loses a job:
the row stays `pending` with no `published_at`, and the sweeper publishes it again."""
from __future__ import annotations

import logging
import threading

from django.conf import settings

log = logging.getLogger(__name__)
_lock = threading.Lock()
_app = None

# Keep an upload's request short when the broker is away: two quick retries, then leave it to the sweeper.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def celery_app():
    """A publish-only Celery app configured from the same Django settings as the workers' app."""
    global _app
    with _lock:
        if _app is None:
            from celery import Celery

            app = Celery("marketplace-publisher")
            app.config_from_object("django.conf:settings", namespace="CELERY")
            _app = app
    return _app


def publish(task_name: str, args: list, queue: str) -> str | None:
    """Send a task; returns its id, or None when the broker could not be reached (logged, never raised)."""
    try:
        # ignore_result: the publisher never waits on a result (the database records the job), so it must not
        # subscribe to the result backend for every task it sends.
        result = celery_app().send_task(task_name, args=args, queue=queue, retry=True, ignore_result=True,
                                        retry_policy=PUBLISH_RETRY_POLICY)
        return result.id
    except Exception as exc:  # kombu.OperationalError, redis.ConnectionError, DNS errors ...
        log.warning("could not publish %s%s to %s: %s", task_name, args, queue, exc)
        return None


def queue_for(task_name: str) -> str:
    from . import task_names as t

    return {
        t.GENERATE_STOCK_IMAGE: settings.QUEUE_GPU,
        t.ROLL_OUT_MODEL: settings.QUEUE_GPU,
        t.TRAIN_MODEL: settings.QUEUE_TRAIN,
    }.get(task_name, settings.QUEUE_INDEX)
