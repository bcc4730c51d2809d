"""The workers' Celery app: `celery -A workers.celery_app worker -Q gpu` (see ./dev and docker-compose.yml)."""
import os
import threading

import django
from celery import Celery
from celery.signals import celeryd_after_setup, task_postrun, task_prerun, worker_process_init, worker_ready
from celery.worker.control import control_command

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
django.setup()

from django.db import connections  # noqa: E402  (after django.setup())

from marketplace import config  # noqa: E402
from marketplace.jobs.queue_control import on_worker_setup, reconcile  # noqa: E402

app = Celery("marketplace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.imports = ["workers.tasks"]


@worker_process_init.connect
def _warm_up_in_background(**_) -> None:
    """Load this child's models (WORKER_WARMUP=generator) or open its index (=index) in a background thread, so the
    first job after a start or deploy does not pay seconds for it. Never blocks: Celery kills a child whose init
    takes over 4 s, and CUDA is only touched here, in the child, never in the prefork parent."""
    what = config.read().WORKER_WARMUP
    if what:
        from .stages.warm_up import warm_up  # lazy: torch and mediapipe load in the child, never in the parent

        threading.Thread(target=warm_up, args=(what,), name="warm-up", daemon=True).start()


@task_prerun.connect
@task_postrun.connect
def _drop_broken_connections(**_) -> None:
    """Between tasks the connection is kept (CELERY_DB_REUSE_MAX in settings says why), unless a query errored and
    it no longer answers, or a task left it out of autocommit: then the next query opens a new one. (Django's
    `close_old_connections` would also close it for its age, and CONN_MAX_AGE is 0 on SQLite: every task.)"""
    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        if conn.get_autocommit() != conn.settings_dict["AUTOCOMMIT"]:
            conn.close()
        elif conn.errors_occurred:
            if conn.is_usable():
                conn.errors_occurred = False
            else:
                conn.close()


@celeryd_after_setup.connect
def _honour_paused_queues(sender=None, instance=None, **_) -> None:
    """An operator's pause outlives worker restarts: skip paused queues before consuming (jobs.queue_control)."""
    on_worker_setup(instance)


@worker_ready.connect
def _honour_pauses_sent_while_starting(sender=None, **_) -> None:
    reconcile(sender)


@control_command()
def sync_queue_pauses(state, **_):
    """The console changed a queue's pause: consume exactly this worker's own queues that are not paused."""
    return reconcile(state.consumer, call=state.consumer.call_soon)
