"""The workers' Celery app: `celery -A workers.celery_app worker -Q gpu` (see ./dev and docker-compose.yml)."""
import os
import threading

import django
from celery import Celery
from celery.signals import celeryd_after_setup, worker_process_init, worker_ready
from celery.worker.control import control_command

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
django.setup()

app = Celery("marketplace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.imports = ["workers.tasks"]


@worker_process_init.connect
def _warm_up_in_background(**_) -> None:
    """Load this child's models (WORKER_WARMUP=generator) or open its index (=index) in a background thread, so the
    first job after a start or deploy does not pay seconds for it. Never blocks: Celery kills a child whose init
    takes over 4 s, and CUDA is only touched here, in the child, never in the prefork parent."""
    what = os.environ.get("WORKER_WARMUP", "")
    if what:
        from . import runtime

        threading.Thread(target=runtime.warm_up, args=(what,), name="warm-up", daemon=True).start()


@celeryd_after_setup.connect
def _honour_paused_queues(sender=None, instance=None, **_) -> None:
    """An operator's pause outlives worker restarts: skip paused queues before consuming (jobs.queue_control)."""
    from marketplace.jobs.queue_control import on_worker_setup

    on_worker_setup(instance)


@worker_ready.connect
def _honour_pauses_sent_while_starting(sender=None, **_) -> None:
    from marketplace.jobs.queue_control import reconcile

    reconcile(sender)


@control_command()
def sync_queue_pauses(state, **_):
    """The console changed a queue's pause: consume exactly this worker's own queues that are not paused."""
    from marketplace.jobs.queue_control import reconcile

    return reconcile(state.consumer, call=state.consumer.call_soon)
