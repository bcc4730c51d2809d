"""What finishing a photo job writes, registered by the apps that own the job's source.

`marketplace.jobs` is the bottom layer: listings and shopping create jobs through it, so it must not import them
back. Each of them registers, in its AppConfig.ready, a writer for its kind of job (suggestions for a listing photo,
recommendations for a buyer's search); `services.job_complete` calls it inside the transaction that also sets the
job `done`, so the results and the final state are still written together."""
from __future__ import annotations

from typing import Callable

# writer(job, hits, low_confidence): replaces the job's results; low_confidence(score) says how to mark each row.
ResultWriter = Callable[[object, list, Callable[[float], bool]], None]
_writers: dict[str, ResultWriter] = {}


def register(kind: str, writer: ResultWriter) -> None:
    """Register the writer for one `ImageJob.Kind` (a second registration replaces the first: reloads are harmless)."""
    _writers[kind] = writer


def write_results(job, hits: list, low_confidence: Callable[[float], bool]) -> None:
    try:
        writer = _writers[job.kind]
    except KeyError:
        raise LookupError(f"no result writer registered for {job.kind!r} jobs: is its app installed?") from None
    writer(job, hits, low_confidence)
