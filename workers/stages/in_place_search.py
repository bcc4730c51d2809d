"""The model worker's own search, right after generating (settings.SEARCH_IN_MODEL_WORKER): the way to the live
collection from a process that is not the index worker (`searcher`), one index query per filter for the batch it
holds (`find_in_place`), and one commit for the generated rows, the results and `done` (`complete_in_place`).

Why: the hand-off to the index worker cost each photo a commit, a message, a queue wait, a claim and a read, about
7 ms of 72 at low load on 2 cores (bench/bench_pipeline.py). When this cannot search (the setting is off, no live
address, a failing query or commit), nothing of it is saved and the batch goes to the index worker as one search
task (`catalogue_search`)."""
from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction

from marketplace.catalogue.models import IndexCollection
from marketplace.jobs import hops
from marketplace.jobs import photo_jobs as jobs
from marketplace.jobs.models import GeneratedImage, ImageJob
from marketplace.jobs.photo_jobs import SearchHit
from marketplace.plain_reads import first_where
from search.index import VectorIndex

from .. import index_endpoint, runtime
from . import index_lifecycle
from .catalogue_search import ending, find_hits
from .storage import replace_generated

log = logging.getLogger(__name__)
State = ImageJob.State


# The model worker's own way to the live collection (search_here): collection name -> VectorIndex, for one address.
_here: dict = {}

_here_uri: str | None = None

_here_failed: dict = {}  # address -> time.monotonic() of its last failure

HERE_RETRY_S = 10.0  # a failed address is tried again after this (a new owner publishes a new one at once)

HERE_TIMEOUT_S = 2  # whole seconds (pymilvus bounds its retries only by an int): connect, and each search

def searcher():
    """(embedder, VectorIndex) of the live collection for a process that is NOT the index worker (a model worker
    searching right after generating: `find_in_place`), or None when it cannot search here and must
    hand the jobs to the index worker: the setting is off, there is no live collection yet, or the embedded index's
    owner has published no live address (workers.index_endpoint) or the last try of it failed.

    On a Milvus server the address is the server's; embedded, the milvus-lite server that the index worker's client
    started for the file. Never opens the file itself, never creates a collection. In the index worker's own process
    (the tests) its own connection serves."""
    global _here_uri
    if not settings.SEARCH_IN_MODEL_WORKER:
        return None
    live = first_where(IndexCollection, state=IndexCollection.State.LIVE)
    if live is None or live.finished_at is None:  # no collection yet, or a first one still filling in place
        return None
    embedder = runtime.embedder(live.embedder_version)
    if "://" in settings.VECTOR_INDEX_URI or runtime.store_is_open():
        return embedder, index_lifecycle.search_index(live, embedder.dim)
    uri = index_endpoint.read(settings.VECTOR_INDEX_URI)
    if uri is None or time.monotonic() - _here_failed.get(uri, -HERE_RETRY_S) < HERE_RETRY_S:
        return None
    with runtime.index_lock:
        if uri != _here_uri:
            forget()
            _here_uri = uri
        ix = _here.get(live.name)
        if ix is None or ix.dim != embedder.dim:
            try:
                first = next(iter(_here.values()), None)
                ix = first.open(live.name, embedder.dim, create=False) if first is not None else VectorIndex(
                    uri, live.name, embedder.dim, create=False, timeout=HERE_TIMEOUT_S)
            except Exception as exc:
                failed(exc)
                return None
            _here[live.name] = ix
    return embedder, ix

def failed(exc: BaseException | None = None) -> None:
    """The last search through `searcher` failed: drop the connection and leave that address alone for
    HERE_RETRY_S (the jobs go to the index worker meanwhile)."""
    with runtime.index_lock:
        if _here_uri is not None:
            _here_failed[_here_uri] = time.monotonic()
            log.warning("searching the index at %s from this process failed (%s); the index worker searches for "
                        "the next %.0f s", _here_uri, exc, HERE_RETRY_S)
        forget()

def forget() -> None:
    global _here_uri
    with runtime.index_lock:
        first = next(iter(_here.values()), None)
        _here.clear()
        _here_uri = None
        if first is not None:
            try:
                first.close()
            except Exception:
                pass

def warm(vector, wait_s: float = 60.0) -> None:
    """Connect to the index and search once (`searcher`), so that a model worker's first photo does not pay for
    it: measured 260 ms (the connection and the collection's index description). The index worker starting beside
    this one may not have published its address yet: try for up to `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        found = searcher()
        if found is not None:
            embedder, ix = found
            try:
                if len(vector) == embedder.dim:
                    ix.search(vector[None, :], 1)
            except Exception as exc:  # e.g. a collection the index worker has yet to (re)create: tasks find out
                log.info("warm-up search through %s failed: %s", _here_uri or settings.VECTOR_INDEX_URI, exc)
                forget()
            return
        if not settings.SEARCH_IN_MODEL_WORKER or time.monotonic() >= deadline:
            return
        time.sleep(1.0)

@dataclass
class Found:
    """What the model worker's own search found for a batch (find_in_place), to complete with its commit."""

    hits: dict[int, list[SearchHit]]
    embedder: object
    search_ms: float
    started: float
    searched: float

def find_in_place(held: list[ImageJob], vectors: dict[int, np.ndarray], searcher) -> Found:
    """The model worker's own search, right after generating (settings.SEARCH_IN_MODEL_WORKER): one index query per
    filter for the batch it still holds, with the vectors it just made. `searcher`: `searcher()`'s
    (embedder, index), the embedder the vectors were made with.

    Why: the hand-off to the index worker cost each photo a commit, a message, a queue wait, a claim and a read,
    about 7 ms of 72 at low load on 2 cores (bench/bench_pipeline.py). Raises when any query fails: the caller then
    hands the jobs to the index worker as if it had never tried (whose search fails only the job at fault)."""
    embedder, index = searcher
    started = hops.now()

    def give_up(job: ImageJob, exc: BaseException) -> None:
        raise exc

    t0 = time.perf_counter()
    hits = find_hits(held, lambda job: vectors[job.pk], index, give_up)
    return Found(hits, embedder, (time.perf_counter() - t0) * 1000 / len(held), started, hops.now())

def complete_in_place(held: list[ImageJob], rows: list[GeneratedImage], fields: dict[int, dict], found: Found,
                      task_id: str, fresh: Collection[int] = ()) -> list[int]:
    """Save the batch's generated rows, the generate stage's fields, the results and `done` in ONE commit; returns
    the ids that ended done (a job this delivery lost is skipped: its new holder carries on). The jobs are the rows
    as read with their claims (with their sources): each is completed without being read again. `fresh`: jobs
    that had no generated image when claimed (`replace_generated`).

    All or nothing: if anything raises, nothing is saved, and the caller hands the jobs to the index worker. A crash
    before the commit leaves the jobs claimed in `generating`: the leader's redelivery or the sweeper runs them
    again, as any generate batch."""
    for job in held:
        for name, value in fields[job.pk].items():  # what the commit below writes, for the verdict to read
            if name != "marks":
                setattr(job, name, value)
    marks = {hops.SEARCH_HERE: found.started, hops.SEARCHED: found.searched}
    endings = [(job, ending(job, found.hits[job.pk], found.embedder, found.search_ms, marks, fields=fields[job.pk]))
               for job in held]
    with transaction.atomic():
        replace_generated(rows, fresh)
        # Straight from `generating` to `done`, with the generate stage's fields: `searching` would never be seen.
        return jobs.jobs_complete_held(endings, task_id, State.GENERATING, first=fresh)
