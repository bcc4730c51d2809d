"""The hops of a photo job, from the upload's commit to the final commit, as marks on the job row (`ImageJob.marks`).

Why marks and not only stage timings: the stages' own milliseconds (`ImageJob.timings`) are the compute floor; what
a user waits for on top of it is queueing, the two task hops, the database and the client's polling, and that is
only visible as the gaps between moments. Every process runs on one clock here (one machine), so the gaps are
comparable; with workers on other machines they are only as good as the hosts' clock sync.

Marks are Unix seconds written with the writes a stage makes anyway (the hand-off to search and the final commit):
recording them costs no database round trip. `published` is taken from the row's `published_at` at the claim.
"""
from __future__ import annotations

import time

# The marks in the order they happen; the row's created_at ("created") and finished_at ("finished") bracket them.
CPU_PUBLISHED = "cpu_published"  # separate layout only: the preprocess task was sent
CPU_CLAIMED = "cpu_claimed"  # separate layout only: a CPU worker is about to claim the row
PREPROCESSED = "preprocessed"  # separate layout only: the preprocessed input is stored, about to hand off
PUBLISHED = "published"  # the generate task was due (the row's published_at, read at the gpu claim: it is written
# with the write that makes the stage due, and the task is sent when that commits: photo_jobs.job_send_on_commit)
CLAIMED = "claimed"  # the gpu stage is about to claim the row (batch followers: about to be collected)
STARTED = "started"  # claimed (with the batch), heartbeats running, about to decode
GENERATED = "generated"  # generators and embedding done (for the whole batch)
STORED = "stored"  # this job's generated images written to storage (rows are saved with the hand-off)
SEARCH_PUBLISHED = "search_published"  # the hand-off began (the search task, one for the batch, is sent on commit)
SEARCH_CLAIMED = "search_claimed"  # the index stage is about to claim the row
SEARCH_STARTED = "search_started"  # claimed, about to query the index
SEARCH_HERE = "search_here"  # the model worker is about to query the index itself (it looked up the live collection
# before its forward pass, with the embedder it then used)
SEARCHED = "searched"  # results ready, about to write them with `done`
BATCH_SIZE = "batch_size"  # not a time: how many photos the generate stage ran (and search queried) with this one

# Each mark and the name of the hop that ends at it (from the mark before it that the job has).
HOPS = (
    ("created", None),
    (CPU_PUBLISHED, "publish preprocess task"),
    (CPU_CLAIMED, "cpu queue wait"),
    (PREPROCESSED, "cpu claim + decode + preprocess + store"),
    (PUBLISHED, "publish mark (written with the row)"),
    (CLAIMED, "commit + send + gpu queue wait"),
    (STARTED, "gpu claim + batch collect"),
    (GENERATED, "gpu compute (decode .. embed)"),
    (STORED, "store generated images"),
    (SEARCH_PUBLISHED, "hand-off write (publish mark)"),
    (SEARCH_CLAIMED, "commit + send + index queue wait"),
    (SEARCH_STARTED, "index claim"),
    (SEARCH_HERE, "model worker starts its own search"),
    (SEARCHED, "search"),
    ("finished", "write results + done (the batch's one commit)"),  # in the model worker: with the generated rows
)


def now() -> float:
    return time.time()


def hop_ms(marks: dict, created: float, finished: float | None) -> dict[str, float]:
    """Milliseconds per hop of one job, between consecutive marks it has (the separate layout has three more)."""
    at = {**marks, "created": created, "finished": finished}
    out, prev = {}, None
    for mark, name in HOPS:
        t = at.get(mark)
        if t is None:
            continue
        if prev is not None:
            out[name] = (t - prev) * 1000
        prev = t
    return out
