"""The search stage on the index worker (the index queue: one task for a whole generate batch): claim the jobs, query
the live collection once per filter (garment type; for a buyer in-stock items only and never their own), judge
each answer by the embedder's confidence gate, and write each job's suggestions or recommendations and `done` in
one commit. The model worker's own search (`in_place_search`) shares `find_hits` and `ending` with it."""
from __future__ import annotations

import logging
import time
import traceback

import numpy as np
from django.db import transaction
from PIL import Image

from marketplace.catalogue.models import Item, StockImage
from marketplace.jobs import hops
from marketplace.jobs import photo_jobs as jobs
from marketplace.jobs.models import GeneratedImage, ImageJob
from marketplace.jobs.photo_jobs import SearchHit
from search.embedders import query_vectors

from . import index_lifecycle
from .confidence import judge
from .photos import failure_reason

log = logging.getLogger(__name__)


# Candidates fetched from the index per query; suggestions/recommendations keep the best few after dedup by item.
SEARCH_CANDIDATES = 50

# --- stage 2: search -------------------------------------------------------------------------------------------
def search_catalogue(job_ids: int | list[int], task_id: str) -> str:
    """Claim the jobs this search task names (one, or the photos of one generate batch), query the index for all of
    them at once, and write each job's results and `done`, all in one commit.

    A job whose search cannot run (its generated image is gone, say) fails alone; if the batched query itself raises,
    each job is searched again on its own, so only the one that breaks it fails."""
    claimed_at = hops.now()
    ids = [job_ids] if isinstance(job_ids, int) else [int(i) for i in job_ids]
    held = jobs.jobs_claim_for_search(ids, task_id)
    if not held:
        return "skipped: not claimable"
    marks = {}
    for job in held:
        marks[job.pk] = {hops.SEARCH_CLAIMED: claimed_at}
        if job.published_at:
            marks[job.pk][hops.SEARCH_PUBLISHED] = job.published_at.timestamp()
    with jobs.jobs_heartbeat([job.pk for job in held], task_id):
        done = _search(held, task_id, marks)
    if len(ids) == 1:
        return "done" if done else "failed"
    return f"searched {done} of {len(ids)}"

def _search(held: list[ImageJob], task_id: str, marks: dict[int, dict]) -> int:
    """Search for the held jobs and complete them; returns how many ended done."""
    started = hops.now()
    for job in held:
        marks[job.pk][hops.SEARCH_STARTED] = started
    try:
        embedder, index = index_lifecycle.live_search()
    except Exception as exc:
        log.error("jobs %s: search failed\n%s", [j.pk for j in held], traceback.format_exc())
        for job in held:
            jobs.job_fail(job.pk, task_id, failure_reason("searching the catalogue", exc))
        return 0

    def give_up(job: ImageJob, exc: BaseException) -> None:
        log.error("job %s: search failed\n%s", job.pk, traceback.format_exc())
        jobs.job_fail(job.pk, task_id, failure_reason("searching the catalogue", exc))

    t0 = time.perf_counter()
    found = find_hits(held, lambda job: _query_vector(job, embedder), index, give_up)
    search_ms = (time.perf_counter() - t0) * 1000 / len(held)
    searched = hops.now()
    ready = [job for job in held if job.pk in found]

    def complete(job: ImageJob) -> bool:
        return _complete(job, found[job.pk], embedder, task_id, search_ms, {**marks[job.pk], hops.SEARCHED: searched})

    try:
        with transaction.atomic():  # one commit for the whole batch; each write is conditional on holding its job
            return sum(complete(job) for job in ready)
    except Exception:
        log.warning("completing %d jobs together failed; each alone\n%s", len(ready), traceback.format_exc())
    ended = 0  # the batch's commit was rolled back: each job in its own, so only the one that breaks fails
    for job in ready:
        try:
            with transaction.atomic():
                ended += complete(job)
        except Exception as exc:
            give_up(job, exc)
    return ended

def ending(job: ImageJob, hits: list[SearchHit], embedder, search_ms: float, marks: dict,
            fields: dict | None = None) -> jobs.Completion:
    """The job's hits judged by the embedder's confidence gate: how it ends."""
    verdict = judge(job, hits, embedder.gate)
    return jobs.Completion(job.pk, hits, {"search": round(search_ms, 1)}, confident=verdict.confident,
                           confidence_note=verdict.note, confidence_threshold=embedder.gate.threshold, marks=marks,
                           fields=fields)

def _complete(job: ImageJob, hits: list[SearchHit], embedder, task_id: str, search_ms: float, marks: dict) -> bool:
    """The index worker's end of a job it claimed for its search: judged, then written with `done`."""
    end = ending(job, hits, embedder, search_ms, marks)
    return jobs.job_complete(job.pk, task_id, hits, end.timings, confident=end.confident,
                             confidence_note=end.confidence_note, confidence_threshold=end.confidence_threshold,
                             marks=marks)

def find_hits(held: list[ImageJob], vector_of, index, give_up) -> dict[int, list[SearchHit]]:
    """Each held job's hits (its query vector: `vector_of(job)`), querying the index once per filter (garment type,
    and for a buyer their own items left out). A job whose search fails is passed to `give_up(job, exc)` and left
    out of the answer; a failing query of several jobs is tried again job by job first, so that only the one that
    breaks it is given up."""
    vectors, groups = {}, {}
    for job in held:
        try:
            vectors[job.pk] = vector_of(job)
        except Exception as exc:
            give_up(job, exc)
            continue
        buyer = job.kind == ImageJob.Kind.SEARCH_QUERY
        groups.setdefault((str(job.garment_type), buyer, job.owner_id if buyer else None), []).append(job)
    found = {}
    for (garment, buyer, owner), members in groups.items():
        try:
            found.update(_query_group(members, garment, buyer, owner, vectors, index))
            continue
        except Exception as exc:
            if len(members) == 1:
                give_up(members[0], exc)
                continue
            log.warning("a search of %d jobs failed; each alone\n%s", len(members), traceback.format_exc())
        for job in members:
            try:
                found.update(_query_group([job], garment, buyer, owner, vectors, index))
            except Exception as exc:
                give_up(job, exc)
    return found

def _query_vector(job: ImageJob, embedder) -> np.ndarray:
    gen = job.generated
    if gen.embedder_version == embedder.version:
        return np.frombuffer(bytes(gen.embedding), "<f4")
    return _query_again(gen, embedder)  # the live embedder changed since generation: embed the stored images again

def _query_group(members: list[ImageJob], garment: str, buyer: bool, owner: int | None, vectors: dict,
                 index) -> dict[int, list[SearchHit]]:
    """One index query for jobs that share a filter. Buyers: in-stock items that are not their own, filtered inside
    the vector query. Sellers: any catalogue image of the category (an out-of-stock item's picture is still a valid
    picture for a listing)."""
    own = list(Item.objects.filter(seller_id=owner).values_list("pk", flat=True)) if buyer else None
    results = index.search(np.stack([vectors[j.pk] for j in members]), SEARCH_CANDIDATES, category=garment,
                           in_stock_only=buyer, exclude_item_ids=own)
    rows = StockImage.objects.filter(pk__in={h.id for hits in results for h in hits})
    if buyer:  # guard: the index may lag a stock change by one index task
        rows = rows.filter(item__in_stock=True).exclude(item__seller_id=owner)
    alive = set(rows.values_list("pk", flat=True))
    return {job.pk: [SearchHit(h.id, h.item_id, h.score) for h in hits if h.id in alive]
            for job, hits in zip(members, results)}

def _query_again(gen: GeneratedImage, embedder) -> np.ndarray:
    """The query vector of a stored generated image (and of the preprocessed photo it was made from, for an
    embedder that fuses the two) by ``embedder``."""
    with gen.image.open("rb") as fh:
        stock = Image.open(fh).convert("RGB")
    photo = None
    if gen.preprocessed_image:
        with gen.preprocessed_image.open("rb") as fh:
            photo = Image.open(fh).convert("RGB")
    return query_vectors(embedder, [stock], [photo] if photo is not None else None)[0]
