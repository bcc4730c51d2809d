"""What finishing a photo job writes, registered by the apps that own the job's source.

`marketplace.jobs` is the bottom layer: listings and shopping create jobs through it, so it must not import them
back. Each of them registers, in its AppConfig.ready, a writer for its kind of job (suggestions for a listing photo,
recommendations for a buyer's search); `photo_jobs.job_complete` calls it inside the transaction that also sets the
job `done`, so the results and the final state are still written together."""
from __future__ import annotations

from typing import Callable, Collection, Sequence

# writer(results, first): replaces the results of each (job, hits, low_confidence) of its kind, all at once (a batch
# of jobs ending in one commit writes them with one read, one delete and one insert, not three queries a job);
# low_confidence(score) says how to mark each row. `first`: ids of jobs that had no generated image when claimed.
# A source's results are only ever written in the commit that also holds its job's generated image, so these have
# none to look for or delete (were some there anyway, the results' unique constraints fail the insert: the commit
# is rolled back and the job completed by the path that replaces them).
Result = tuple[object, list, Callable[[float], bool]]
ResultWriter = Callable[[Sequence[Result], Collection[int]], None]
_writers: dict[str, ResultWriter] = {}


def register(kind: str, writer: ResultWriter) -> None:
    """Register the writer for one `ImageJob.Kind` (a second registration replaces the first: reloads are harmless)."""
    _writers[kind] = writer


def write_results(results: Sequence[Result], first: Collection[int] = ()) -> None:
    """Each (job, hits, low_confidence)'s results, by the writer of its job's kind (`first`: see ResultWriter)."""
    by_kind: dict[str, list[Result]] = {}
    for result in results:
        by_kind.setdefault(result[0].kind, []).append(result)
    for kind, group in by_kind.items():
        try:
            writer = _writers[kind]
        except KeyError:
            raise LookupError(f"no result writer registered for {kind!r} jobs: is its app installed?") from None
        writer(group, first)
