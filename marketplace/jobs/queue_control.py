"""Pausing and resuming a Celery queue, for the staff console.

How a pause works, and why this way: the workers of a paused queue stop *consuming* it (the Celery consumer cancels
that queue, as `cancel_consumer` does), so its messages stay in the broker, in order, untouched, and resuming lets
the workers take them again. Nothing is dropped or published twice, and no task needs to know about pausing: the
alternative (a task that finds its queue paused leaves its job pending and returns, and resuming publishes the
pending rows again) would ack, and so lose, every message that is not a job row (index batches, re-index starts,
roll-outs, the sweeper) and would need every task to honour the flag.

The decision is a `QueuePause` row, and each worker reconciles itself with the rows: it consumes exactly the queues
it was started for (`-Q`) that are not paused. It does so while it starts, *before* it consumes anything
(`celeryd_after_setup`), again once it is ready (`worker_ready`: a change made while it was starting), and whenever
the console broadcasts `sync_queue_pauses` after a change. A worker restarted during a pause therefore stays paused;
a broadcast it misses is applied at its next start or sync; and resuming never makes a worker consume a queue it was
not started for (Celery's own `add_consumer` broadcast would make every worker take it). What a worker had already
taken before the pause (at most one message per process: prefetch multiplier 1) still runs.

While a queue is paused the sweeper (`sweeper.jobs_sweep`) leaves the rows bound for it alone: copies published
into a paused queue would only pile up there. Beat's sweep messages carry `expires` for the same reason.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError, connections, transaction

from . import queue
from .models import ImageJob, QueuePause

log = logging.getLogger(__name__)

# A staff request waits this long for the workers' replies to a pause or resume.
CONTROL_REPLY_TIMEOUT_S = 1.0
# The remote-control command the workers register (workers/celery_app.py): reconcile with the QueuePause rows.
SYNC_COMMAND = "sync_queue_pauses"
# In a worker process: the queues it was started to consume (-Q), recorded before any pause is applied.
_configured: set[str] = set()


class UnknownQueue(ValueError):
    pass


def queue_names() -> list[str]:
    """The queues an operator can see and pause, in the order the console shows them: the photo path first. The cpu
    queue exists when preprocessing is a stage of its own (PREPROCESS_SEPARATE), the reindex queue when the index is
    a Milvus server (builds run beside searches); otherwise their work runs on the gpu and index queues."""
    names = [settings.QUEUE_CPU] if settings.PREPROCESS_SEPARATE else []
    names += [settings.QUEUE_GPU, settings.QUEUE_INDEX]
    if queue.reindex_queue() != settings.QUEUE_INDEX:
        names.append(queue.reindex_queue())
    return names + [settings.QUEUE_TRAIN]


def photo_states_by_queue() -> dict[str, list[str]]:
    """Which queue works on a photo job in each active state (the sweeper holds them while it is paused)."""
    S = ImageJob.State
    early = [S.PENDING, S.PREPROCESSING]
    if settings.PREPROCESS_SEPARATE:
        return {settings.QUEUE_CPU: early, settings.QUEUE_GPU: [S.GENERATING], settings.QUEUE_INDEX: [S.SEARCHING]}
    return {settings.QUEUE_GPU: early + [S.GENERATING], settings.QUEUE_INDEX: [S.SEARCHING]}


def queues_paused() -> set[str]:
    return set(QueuePause.objects.filter(paused=True).values_list("queue", flat=True))


def _set_paused(name: str, paused: bool, user) -> None:
    if name not in queue_names():
        raise UnknownQueue(name)
    with transaction.atomic():
        QueuePause.objects.update_or_create(queue=name, defaults={"paused": paused, "changed_by": user})


def _connection():
    """A broker connection that fails at once when the broker is down (a staff page must not hang on retries)."""
    conn = queue.celery_app().connection_for_write()
    try:
        conn.ensure_connection(max_retries=0)
    except BaseException:
        conn.release()
        raise
    return conn


def _sync_workers(name: str) -> int | None:
    """Ask every worker to reconcile with the rows; returns how many workers of queue `name` answered, or None when
    the broker could not be reached (the row still holds the decision; workers apply it when they start)."""
    try:
        with _connection() as conn:
            replies = queue.celery_app().control.broadcast(
                SYNC_COMMAND, reply=True, timeout=CONTROL_REPLY_TIMEOUT_S, connection=conn) or []
    except Exception as exc:  # broker down: kombu OperationalError, redis ConnectionError ...
        log.warning("could not ask the workers to apply the pause of %s: %s", name, exc)
        return None
    return sum(1 for reply in replies for answer in reply.values()
               if isinstance(answer, dict) and name in answer.get("configured", []))


def queue_pause(name: str, *, user=None) -> int | None:
    """Pause queue `name`: record it, then have the running workers stop consuming it. Returns how many of its workers
    acknowledged (None: broker unreachable). Messages stay in the broker until `queue_resume`."""
    _set_paused(name, True, user)
    return _sync_workers(name)


def queue_resume(name: str, *, user=None) -> int | None:
    """Resume queue `name`: record it, then tell the running workers to consume it again."""
    _set_paused(name, False, user)
    return _sync_workers(name)


def _depth(channel, name: str) -> int:
    from kombu.exceptions import ChannelError  # lazy: kombu comes with the broker connection, not this module

    try:
        return channel.queue_declare(queue=name, passive=True).message_count
    except ChannelError:  # Redis keeps no empty list: a queue with nothing waiting "does not exist"
        return 0


def queue_depths(names: list[str]) -> dict[str, int | None]:
    """Messages waiting in the broker per queue (not yet taken by a worker); None when the broker is unreachable."""
    try:
        with _connection() as conn:
            channel = conn.default_channel
            return {name: _depth(channel, name) for name in names}
    except Exception as exc:
        log.info("could not read queue depths: %s", exc)
        return dict.fromkeys(names)


# --- in the worker ----------------------------------------------------------------------------------------------
def _paused_now() -> set[str]:
    """The paused queues, read by a worker. A worker that cannot read them (database away, migration not applied
    yet) consumes all its queues rather than refusing to start; its next sync applies the pauses."""
    try:
        return queues_paused()
    except DatabaseError as exc:
        log.warning("could not read the queue pauses (%s): consuming every queue of this worker", exc)
        return set()
    finally:
        connections.close_all()  # the worker's main process: its prefork children must not inherit a connection


def on_worker_setup(instance) -> None:
    """`celeryd_after_setup`: remember the worker's queues, drop the paused ones before it starts consuming."""
    queues = instance.app.amqp.queues
    _configured.update(queues.consume_from)
    for name in sorted(_paused_now() & _configured):
        queues.deselect(name)
        log.warning("queue %s is paused by an operator: this worker will not consume it until it is resumed", name)


def reconcile(consumer, call=lambda fn, *args: fn(*args)) -> dict:
    """Make this worker consume exactly its configured queues that are not paused. `call` runs the consumer change
    (the control command passes `consumer.call_soon`: changes belong in the consumer's event loop)."""
    paused = _paused_now()
    changed = []
    for name in sorted(_configured):
        consuming = consumer.task_consumer is not None and consumer.task_consumer.consuming_from(name)
        if name in paused and consuming:
            call(consumer.cancel_task_queue, name)
            changed.append(f"paused {name}")
        elif name not in paused and not consuming:
            call(consumer.add_task_queue, name)
            changed.append(f"resumed {name}")
    for line in changed:
        log.warning("queue control: %s", line)
    return {"configured": sorted(_configured), "paused": sorted(paused & _configured), "changed": changed}

