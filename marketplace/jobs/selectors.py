"""Read-only overviews of the jobs, for the staff console's queue page and the API's queue overview. The counts
that belong to the catalogue (the vector index, stock images waiting for it) are read by marketplace.catalogue's
selectors and handed in: this module reads no other app."""
from __future__ import annotations

from django.conf import settings
from django.db.models import Count

from . import queue, queue_control
from .models import ImageJob, ModelVersion, ReindexRun, TrainingRun


def _state_counts(model) -> dict:
    return {row["state"]: row["n"] for row in model.objects.values("state").annotate(n=Count("pk"))}


def queue_overview(*, index: dict) -> dict:
    """Counts per state, for the operator's queue overview (Immich-style); `index`: the catalogue's index overview
    (marketplace.catalogue.selectors.index_overview)."""
    return {"image_jobs": _state_counts(ImageJob), "training_runs": _state_counts(TrainingRun),
            "reindex_runs": _state_counts(ReindexRun), "index": index}


def queues_status(*, stock_images_to_index: int) -> list[dict]:
    """Per queue: paused or not, messages waiting in the broker, and the rows it works on counted by state (the index
    queue's include `stock_images_to_index`: marketplace.catalogue.selectors.stock_images_to_index)."""
    jobs, runs, reindex = _state_counts(ImageJob), _state_counts(TrainingRun), _state_counts(ReindexRun)
    names = queue_control.queue_names()
    S = ImageJob.State
    separate, builds = settings.PREPROCESS_SEPARATE, queue.reindex_queue()
    rollouts = ModelVersion.objects.filter(rollout_requested_at__isnull=False).count()
    reindex_states = {"re-index pending": reindex.get("pending", 0), "re-index running": reindex.get("running", 0)}
    states = {
        settings.QUEUE_CPU: {"photo jobs pending": jobs.get(S.PENDING, 0),
                             "preprocessing": jobs.get(S.PREPROCESSING, 0)},
        settings.QUEUE_GPU: ({"generating": jobs.get(S.GENERATING, 0)} if separate else {
            "photo jobs pending": jobs.get(S.PENDING, 0), "preprocessing": jobs.get(S.PREPROCESSING, 0),
            "generating": jobs.get(S.GENERATING, 0)}) | {"roll-outs queued": rollouts},
        settings.QUEUE_INDEX: {"searching": jobs.get(S.SEARCHING, 0),
                               **(reindex_states if builds == settings.QUEUE_INDEX else {}),
                               "stock images to index": stock_images_to_index},
        settings.QUEUE_TRAIN: {f"training {s}": runs.get(s, 0) for s in TrainingRun.State.values},
    }
    if builds != settings.QUEUE_INDEX:
        states[builds] = reindex_states
    purpose = {settings.QUEUE_CPU: "preprocessing of photo jobs (mediapipe) for the batched generator",
               settings.QUEUE_GPU: ("the two generators and embedding" if separate else
                                    "photo jobs (preprocess, generate, embed)") + " and model roll-outs",
               settings.QUEUE_INDEX: "searches, indexing, the sweeper" + (
                   ", re-index" if builds == settings.QUEUE_INDEX else ""),
               settings.QUEUE_TRAIN: "training runs"}
    if builds != settings.QUEUE_INDEX:
        purpose[builds] = "re-index runs and index builds (beside searches)"
    paused, waiting = queue_control.queues_paused(), queue_control.queue_depths(names)
    return [{"name": name, "purpose": purpose.get(name, ""), "paused": name in paused, "waiting": waiting[name],
             "states": states.get(name, {})} for name in names]
