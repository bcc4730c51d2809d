"""What a person is told about a photo job while it runs: a state in words and the pipeline's stages with their
timings. The pages render it, and the progress endpoint returns it for the page's script to update in place.

The job records milliseconds per sub-step (`ImageJob.timings`: decode, preprocess, stage1, stage2, embed, search);
people see the three stages the job's state moves through, each with the sum of its sub-steps."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from marketplace.jobs.models import ImageJob

State = ImageJob.State
STATE_LABELS = {
    State.PENDING: "Waiting in the queue",
    State.PREPROCESSING: "Reading the photo",
    State.GENERATING: "Making the stock image",
    State.SEARCHING: "Searching the catalogue",
    State.DONE: "Done",
    State.FAILED: "Failed",
}
# (state while the stage runs, label, the timing keys it covers)
STAGES = (
    (State.PREPROCESSING, "Reading the photo", ("decode",)),
    (State.GENERATING, "Making the stock image", ("preprocess", "stage1", "stage2", "embed")),
    (State.SEARCHING, "Searching the catalogue", ("search",)),
)
FINISHED = (State.DONE, State.FAILED)


@dataclass(frozen=True)
class Stage:
    name: str
    label: str
    status: str  # waiting | running | done | failed
    ms: float | None


@dataclass(frozen=True)
class JobProgress:
    job_id: int
    subject: str
    state: str
    state_label: str
    finished: bool
    stages: list[Stage]
    total_ms: float | None
    warnings: list[str]
    found_no_person: bool
    confident: bool | None
    confidence_note: str
    error: str

    def as_dict(self) -> dict:
        return asdict(self)


def job_progress(job: ImageJob) -> JobProgress:
    timings = job.timings or {}
    stages, blamed = [], False
    for state, label, keys in STAGES:
        if all(k in timings for k in keys):
            status, ms = "done", round(sum(float(timings[k]) for k in keys), 1)
        else:
            ms = None
            if job.state == state:
                status = "running"
            elif job.state == State.FAILED and not blamed:
                status, blamed = "failed", True  # the first stage that never finished is where it failed
            else:
                status = "waiting"
        stages.append(Stage(str(state), label, status, ms))
    done_ms = [s.ms for s in stages if s.ms is not None]
    return JobProgress(
        job_id=job.pk, subject=_subject(job), state=job.state, state_label=STATE_LABELS.get(job.state, job.state),
        finished=job.state in FINISHED, stages=stages, total_ms=round(sum(done_ms), 1) if done_ms else None,
        warnings=[str(w) for w in (job.warnings or [])], found_no_person=job.found_no_person,
        confident=job.confident, confidence_note=job.confidence_note, error=job.error)


def _subject(job: ImageJob) -> str:
    """What the job is about, as the page names it ("Photo 12", "Search 7"): the live region says which job changed."""
    if job.listing_photo_id:
        return f"Photo {job.listing_photo_id}"
    return f"Search {job.search_query_id}"
