"""The sweeper: what the broker lost is published again, for every kind of job (Celery beat runs it on the index
queue: workers.tasks)."""
from __future__ import annotations

from django.conf import settings

from . import lifecycle, photo_jobs, queue, runs
from .models import ImageJob, ReindexRun, TrainingRun
from .queue_control import photo_states_by_queue, queues_paused

State = ImageJob.State


def jobs_sweep() -> dict:
    """Publish again what the broker lost, by the one rule of `lifecycle.due_for_publish`, for every kind of job:
    photo jobs, training runs and re-index runs whose holder's lease lapsed (its worker died), and those waiting
    without a recent publish (the broker was down). Returns counts for the log."""
    stale = settings.JOB_REPUBLISH_AFTER_SECONDS
    paused = queues_paused()
    # A paused queue (staff console) keeps its messages; publishing copies into it would only pile them up.
    image_states_held = [st for name, sts in photo_states_by_queue().items() if name in paused for st in sts]
    kinds = (
        ("image_jobs", ImageJob, [State.PENDING], ImageJob.ACTIVE_STATES, photo_jobs.job_publish, image_states_held),
        ("training", TrainingRun, [TrainingRun.State.PENDING], [TrainingRun.State.RUNNING], runs.training_run_publish,
         list(TrainingRun.State) if settings.QUEUE_TRAIN in paused else []),
        ("reindex", ReindexRun, [ReindexRun.State.PENDING], [ReindexRun.State.RUNNING], runs.reindex_publish,
         list(ReindexRun.State) if queue.reindex_queue() in paused else []),
    )
    counts = {}
    for key, model, waiting, running, publish, held in kinds:
        due = lifecycle.due_for_publish(model, waiting_states=waiting, running_states=running,
                                        stale_after_seconds=stale).exclude(state__in=held)
        counts[key] = sum(bool(publish(pk)) for pk in list(due[:500]))
    return counts
