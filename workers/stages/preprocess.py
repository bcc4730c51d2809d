"""The separate preprocessing stage (PREPROCESS_SEPARATE, the cpu queue): decode and preprocess one photo
(mediapipe, CPU only), store what the networks will see, and hand the job to the batched generator worker. Several
CPU processes run this so that one GPU worker is never starved by mediapipe."""
from __future__ import annotations

import logging
import traceback

from marketplace.jobs import hops
from marketplace.jobs import photo_jobs as jobs
from marketplace.jobs.models import ImageJob
from marketplace.jobs.photo_jobs import ClaimLost

from .. import runtime
from .photos import Photo, ReadError, failure_reason, png, prepare_photo

log = logging.getLogger(__name__)
State = ImageJob.State


def preprocess_photo(job_id: int, task_id: str) -> str:
    """The separate preprocessing stage (PREPROCESS_SEPARATE, cpu queue): decode and preprocess one photo (mediapipe,
    CPU only), store what the networks will see, and hand the job to the batched generator worker. Several CPU
    processes run this so that one GPU worker is never starved by mediapipe."""
    claimed_at = hops.now()
    job = jobs.job_claim(job_id, task_id, [State.PENDING, State.PREPROCESSING], State.PREPROCESSING,
                         count_attempt=True)
    if job is None:
        return "skipped: not claimable"
    with jobs.job_heartbeat(job_id, task_id):
        marks = {hops.CPU_CLAIMED: claimed_at}
        if job.published_at:
            marks[hops.CPU_PUBLISHED] = job.published_at.timestamp()
        photo = Photo(job, marks)
        try:
            generator, _ = runtime.active_generator()
            try:
                prepare_photo(photo, generator)
            except ReadError as exc:
                jobs.job_fail(job_id, task_id, f"the photo could not be read: {exc}")
                return "failed: unreadable photo"
            stored = png(photo.pre.image.convert("RGB"))
            if job.preprocessed_input:
                job.preprocessed_input.delete(save=False)
            job.preprocessed_input.save("input.png", stored, save=False)
            marks[hops.PREPROCESSED] = hops.now()
            jobs.job_hand_to_generator(
                job_id, task_id, preprocessed_input=job.preprocessed_input.name, preprocess_method=photo.pre.method,
                warnings=list(photo.pre.warnings), marks=marks,
                timings={k: round(v, 1) for k, v in photo.timings.items()})
            return "preprocessed"
        except ClaimLost:
            return "skipped: claim lost to another delivery"
        except Exception as exc:
            log.error("job %s: preprocess failed\n%s", job_id, traceback.format_exc())
            jobs.job_fail(job_id, task_id, failure_reason("preprocessing the photo", exc))
            return "failed"
