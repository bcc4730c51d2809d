"""Runs an operator starts: training runs and re-index runs. Each is a row claimed like a photo job
(marketplace.jobs.lifecycle), its task published on commit and again by the sweeper when it is lost."""
from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import lifecycle, queue, task_names
from .models import ReindexRun, TrainingRun


# --- training runs -----------------------------------------------------------------------------------------------
def training_run_publish(run_id: int) -> bool:
    if queue.publish(task_names.TRAIN_MODEL, [run_id], queue.queue_for(task_names.TRAIN_MODEL)) is None:
        return False
    lifecycle.mark_published(TrainingRun, run_id)
    return True


def training_run_start(*, user, parameters: dict) -> TrainingRun:
    with transaction.atomic():
        run = TrainingRun.objects.create(requested_by=user, parameters=parameters)
        transaction.on_commit(lambda: training_run_publish(run.pk))
    return run


def training_run_claim(run_id: int, task_id: str) -> TrainingRun | None:
    """Take a pending run, or a running one whose lease lapsed (its worker died): it resumes from its state."""
    S = TrainingRun.State
    if not lifecycle.claim(TrainingRun, run_id, task_id, from_states=[S.PENDING, S.RUNNING],
                           lease_seconds=settings.TRAINING_LEASE_SECONDS, state=S.RUNNING,
                           attempts=F("attempts") + 1, started_at=Coalesce("started_at", timezone.now())):
        return None
    return TrainingRun.objects.get(pk=run_id)


def training_run_keepalive(run_id: int, task_id: str) -> lifecycle.Heartbeat:
    """The run's lease, renewed from a thread for as long as the run works (data preparation included); it stops
    renewing when an operator cancels, and the training loop's progress callback then ends the run."""
    return lifecycle.Heartbeat(TrainingRun, run_id, task_id, lease_seconds=settings.TRAINING_LEASE_SECONDS,
                               extra=Q(state=TrainingRun.State.RUNNING, cancel_requested=False),
                               interval=min(30.0, settings.TRAINING_LEASE_SECONDS / 4))


def training_run_heartbeat(run_id: int, task_id: str, *, step: int, total_steps: int, losses: dict) -> bool:
    """Renew the lease and record progress; returns False when the run was cancelled or taken over."""
    return bool(lifecycle.renew(TrainingRun, run_id, task_id, lease_seconds=settings.TRAINING_LEASE_SECONDS,
                                extra=Q(state=TrainingRun.State.RUNNING, cancel_requested=False), step=step,
                                total_steps=total_steps, progress=step / max(total_steps, 1), last_losses=losses))


def training_run_finish(run_id: int, task_id: str, *, state: str, error: str = "", log_text: str = "") -> None:
    lifecycle.release(TrainingRun, run_id, task_id, state=state, error=error[:4000], log=log_text[-20000:],
                      finished_at=timezone.now())


def training_run_cancel(run: TrainingRun) -> TrainingRun:
    """An operator's cancel: a pending run is cancelled at once; a running one stops at its next progress report
    (its heartbeat no longer renews, so the training loop ends it and records `cancelled`)."""
    with transaction.atomic():
        TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)
        TrainingRun.objects.filter(pk=run.pk, state=TrainingRun.State.PENDING).update(
            state=TrainingRun.State.CANCELLED, finished_at=timezone.now())
    run.refresh_from_db()
    return run


# --- re-index ----------------------------------------------------------------------------------------------------
def reindex_run_start(*, user, total: int) -> ReindexRun:
    """Queue a re-index of `total` stock images (a new collection is built while the live one serves:
    workers.stages.index_lifecycle). One at a time: while a run is pending or running, a second request returns that
    run. The catalogue's `reindex_start` counts the stock images: this module reads no other app."""
    with transaction.atomic():  # SQLite: an IMMEDIATE transaction (settings), so requests are serialised here
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", [0x5E1D5])
        existing = ReindexRun.objects.filter(state__in=[ReindexRun.State.PENDING, ReindexRun.State.RUNNING]).order_by(
            "pk").first()
        if existing is not None:
            return existing
        run = ReindexRun.objects.create(requested_by=user, total=total)
        transaction.on_commit(lambda: reindex_publish(run.pk))
    return run


def reindex_publish(run_id: int) -> bool:
    if queue.publish(task_names.REINDEX, [run_id], queue.queue_for(task_names.REINDEX)) is None:
        return False
    lifecycle.mark_published(ReindexRun, run_id)
    return True


def reindex_claim(run_id: int, token: str) -> bool:
    """Take a pending re-index run, or a running one whose lease lapsed (the index worker died mid-build: the new
    holder rides on the build, which resumes from its cursor)."""
    S = ReindexRun.State
    return lifecycle.claim(ReindexRun, run_id, token, from_states=[S.PENDING, S.RUNNING],
                           lease_seconds=settings.REINDEX_LEASE_SECONDS, state=S.RUNNING, attempts=F("attempts") + 1)


def reindex_renew() -> int:
    """The build made progress: renew the lease of every running re-index run (they all ride on that one build)."""
    return ReindexRun.objects.filter(state=ReindexRun.State.RUNNING).exclude(claimed_by="").update(
        lease_expires_at=lifecycle.lease_until(settings.REINDEX_LEASE_SECONDS))
