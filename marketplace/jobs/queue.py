"""Publishing tasks by name from any process, without importing the workers' code.

A publish can fail (the broker is down: kombu raises OperationalError after about 0.6 s). That never loses a job:
the row stays `pending` with no `published_at`, and the sweeper publishes it again."""
from __future__ import annotations

import logging
import threading

from django.conf import settings

from marketplace.request_timing import timed_phase

from . import task_names as t

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
            from celery import Celery  # lazy: Celery and kombu load on the first publish, not in every process

            app = Celery("marketplace-publisher")
            app.config_from_object("django.conf:settings", namespace="CELERY")
            _app = app
    return _app


def warm_up() -> None:
    """Build the publisher and open a broker connection now, not inside the first upload of each web process.

    Measured (bench/bench_uploads.py on 2 busy cores): the first publish in a process took 0.2-0.7 s (Celery's lazy
    app, amqp and producer pool, the transport's imports, the connection), the next ones about a millisecond. Every
    gunicorn process pays it once, and with several processes those first uploads made the publish phase's p95.
    Runs in a thread at start-up (marketplace.wsgi): a broker that is down delays nothing, and is only logged."""
    try:
        app = celery_app()
        with app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=1)
    except Exception as exc:  # the first upload connects again; the sweeper covers a publish that fails
        log.info("publisher warm-up could not reach the broker: %s", exc)


def publish(task_name: str, args: list, queue: str) -> str | None:
    """Send a task; returns its id, or None when the broker could not be reached (logged, never raised)."""
    try:
        # ignore_result: the publisher never waits on a result (the database records the job), so it must not
        # subscribe to the result backend for every task it sends.
        with timed_phase("publish"):
            result = celery_app().send_task(task_name, args=args, queue=queue, retry=True, ignore_result=True,
                                            retry_policy=PUBLISH_RETRY_POLICY)
        return result.id
    except Exception as exc:  # kombu.OperationalError, redis.ConnectionError, DNS errors ...
        log.warning("could not publish %s%s to %s: %s", task_name, args, queue, exc)
        return None


def queue_for(task_name: str) -> str:
    return {
        t.GENERATE_STOCK_IMAGE: settings.QUEUE_GPU,
        t.PREPROCESS_PHOTO: settings.QUEUE_CPU,
        t.ROLL_OUT_MODEL: settings.QUEUE_GPU,
        t.TRAIN_MODEL: settings.QUEUE_TRAIN,
        t.REINDEX: reindex_queue(),
        t.BUILD_INDEX: reindex_queue(),
    }.get(task_name, settings.QUEUE_INDEX)


def reindex_queue() -> str:
    """QUEUE_REINDEX with a Milvus server (any process may open it: builds run beside searches); QUEUE_INDEX with
    milvus-lite, whose file only the index worker may open (builds go in bounded batches between searches)."""
    return settings.QUEUE_REINDEX if "://" in settings.VECTOR_INDEX_URI else settings.QUEUE_INDEX


_clients: dict = {}


def broker_redis():
    """The broker's Redis as a plain client: one thread-safe client (with its connection pool) per URL and process,
    for what Celery does not do itself (job_events' announcements, `waiting`)."""
    url = settings.CELERY_BROKER_URL
    client = _clients.get(url)
    if client is None:
        import redis  # lazy: redis-py (0.15 s to import) only where something talks to the broker directly

        client = _clients[url] = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    return client


def waiting(queue: str) -> int | None:
    """How many messages wait in `queue`, not yet delivered to any worker, or None when the broker cannot say. One
    LLEN: kombu's Redis transport keeps a queue's messages in a list named after it (tasks here are sent without a
    priority, which would go to the lists beside it). A hint, never a decision: the database claims decide."""
    try:
        return int(broker_redis().llen(queue))
    except Exception as exc:  # the broker is down
        log.info("could not count the messages waiting in %s: %s", queue, exc)
        return None
