"""What the tasks do, as plain functions (tests and management commands call them too).

Per photo: `generate_stock_image` (gpu queue: decode, preprocess, G1 -> concat -> G2, embed, store; several waiting
photos as one batch, workers.batching) hands the jobs to `search_catalogue` (index queue, one task for a whole
batch: one Milvus query per filter, then each job's suggestions or recommendations and `done`, in one commit).
With PREPROCESS_SEPARATE, `preprocess_photo` (cpu queue) decodes and preprocesses first and hands the job to the
generate stage. Each stage records the moment of
each hop on the job (marketplace.jobs.hops).
Every stage first claims the job row (marketplace.jobs.services.job_claim), so a duplicate delivery is a no-op and
a redelivery after a crash takes over cleanly.
"""
from __future__ import annotations

import io
import logging
import time
import traceback
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from marketplace.catalogue.models import Item, StockImage
from marketplace.jobs import hops
from marketplace.jobs import services as jobs
from marketplace.jobs.models import GeneratedImage, ImageJob, ModelVersion
from marketplace.jobs.services import ClaimLost, SearchHit

from . import runtime

log = logging.getLogger(__name__)
State = ImageJob.State

# Candidates fetched from the index per query; suggestions/recommendations keep the best few after dedup by item.
SEARCH_CANDIDATES = 50
# Stock images embedded + upserted per index task: ~1.5 ms to embed each and ~20k/s to upsert, so ~0.5 s a batch.
INDEX_BATCH = 300


def _png(image) -> ContentFile:
    """PNG without compression (zlib level 0): the generated images are small (64 px: 12.4 KB), and each job writes
    three of them on the way to its answer. Measured on a 64 px photo: level 0 0.05 ms, 12.4 KB; level 1 0.18 ms,
    8.8 KB; level 6 (PIL's default) 0.43 ms, 8.4 KB: 0.4 ms a photo saved for 11 KB more on disk."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=0)
    return ContentFile(buf.getvalue())


def _reason(stage: str, exc: BaseException) -> str:
    return f"{stage} failed: {type(exc).__name__}: {exc}"


# --- stage 1: generate (in micro-batches: workers.batching) ---------------------------------------------------
def generate_stock_image(job_id: int, task_id: str) -> str:
    """Claim the job and others waiting with it; preprocess each, then G1 -> G2 and embed them as one batch."""
    from .batching import generate_batch

    return generate_batch(job_id, task_id)


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
        from .batching import Photo, ReadError, prepare_photo

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
            stored = _png(photo.pre.image.convert("RGB"))
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
            jobs.job_fail(job_id, task_id, _reason("preprocessing the photo", exc))
            return "failed"


def generated_row(job: ImageJob, result, vector: np.ndarray, embedder_version: str) -> GeneratedImage:
    """The job's GeneratedImage with its three images written to storage, not yet saved (`replace_generated`)."""
    gen = GeneratedImage(job=job, embedding=np.asarray(vector, "<f4").tobytes(), embedder_version=embedder_version,
                         model_label=result.model_label, trained=bool(result.trained))
    # Only the extension of these names is kept: the field's upload_to (marketplace.media_names.RandomName) gives
    # each file a random name, so generated images cannot be enumerated by job id.
    gen.image.save("stock.png", _png(result.stock), save=False)
    gen.stage1_image.save("stage1.png", _png(result.stage1), save=False)
    gen.preprocessed_image.save("input.png", _png(result.preprocessed), save=False)
    return gen


def replace_generated(rows: list[GeneratedImage], fresh: Collection[int] = ()) -> None:
    """Save these rows, one GeneratedImage per job: a re-run replaces the row (and, once the caller's transaction
    commits, the files) instead of adding another. Call it inside the transaction that hands the jobs on.

    `fresh`: jobs the caller read, with its claim, as having no generated image: not looked for again (a first run,
    the usual case, then costs no read). Should another delivery have added one since, the job's one-to-one
    constraint fails the insert, and with it the caller's transaction."""
    again = [r.job_id for r in rows if r.job_id not in fresh]
    old = list(GeneratedImage.objects.filter(job_id__in=again)) if again else []
    if old:
        GeneratedImage.objects.filter(pk__in=[g.pk for g in old]).delete()

        def delete_files() -> None:
            for g in old:
                for f in (g.image, g.stage1_image, g.preprocessed_image):
                    if f:
                        f.delete(save=False)

        transaction.on_commit(delete_files)
    GeneratedImage.objects.bulk_create(rows)


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
        embedder, index = runtime.live_search()
    except Exception as exc:
        log.error("jobs %s: search failed\n%s", [j.pk for j in held], traceback.format_exc())
        for job in held:
            jobs.job_fail(job.pk, task_id, _reason("searching the catalogue", exc))
        return 0

    def give_up(job: ImageJob, exc: BaseException) -> None:
        log.error("job %s: search failed\n%s", job.pk, traceback.format_exc())
        jobs.job_fail(job.pk, task_id, _reason("searching the catalogue", exc))

    t0 = time.perf_counter()
    found = _find(held, lambda job: _query_vector(job, embedder), index, give_up)
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
    filter for the batch it still holds, with the vectors it just made. `searcher`: `runtime.search_here()`'s
    (embedder, index), the embedder the vectors were made with.

    Why: the hand-off to the index worker cost each photo a commit, a message, a queue wait, a claim and a read,
    about 7 ms of 72 at low load on 2 cores (bench/bench_pipeline.py). Raises when any query fails: the caller then
    hands the jobs to the index worker as if it had never tried (whose search fails only the job at fault)."""
    embedder, index = searcher
    started = hops.now()

    def give_up(job: ImageJob, exc: BaseException) -> None:
        raise exc

    t0 = time.perf_counter()
    hits = _find(held, lambda job: vectors[job.pk], index, give_up)
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
    ending = [(job, _ending(job, found.hits[job.pk], found.embedder, found.search_ms, marks, fields=fields[job.pk]))
              for job in held]
    with transaction.atomic():
        replace_generated(rows, fresh)
        # Straight from `generating` to `done`, with the generate stage's fields: `searching` would never be seen.
        return jobs.jobs_complete_held(ending, task_id, State.GENERATING, first=fresh)


def _ending(job: ImageJob, hits: list[SearchHit], embedder, search_ms: float, marks: dict,
            fields: dict | None = None) -> jobs.Completion:
    """The job's hits judged by the embedder's confidence gate: how it ends."""
    from .confidence import judge

    verdict = judge(job, hits, embedder.gate)
    return jobs.Completion(job.pk, hits, {"search": round(search_ms, 1)}, confident=verdict.confident,
                           confidence_note=verdict.note, confidence_threshold=embedder.gate.threshold, marks=marks,
                           fields=fields)


def _complete(job: ImageJob, hits: list[SearchHit], embedder, task_id: str, search_ms: float, marks: dict) -> bool:
    """The index worker's end of a job it claimed for its search: judged, then written with `done`."""
    end = _ending(job, hits, embedder, search_ms, marks)
    return jobs.job_complete(job.pk, task_id, hits, end.timings, confident=end.confident,
                             confidence_note=end.confidence_note, confidence_threshold=end.confidence_threshold,
                             marks=marks)


def _find(held: list[ImageJob], vector_of, index, give_up) -> dict[int, list[SearchHit]]:
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
    from PIL import Image

    from search.embedders import query_vectors

    with gen.image.open("rb") as fh:
        stock = Image.open(fh).convert("RGB")
    photo = None
    if gen.preprocessed_image:
        with gen.preprocessed_image.open("rb") as fh:
            photo = Image.open(fh).convert("RGB")
    return query_vectors(embedder, [stock], [photo] if photo is not None else None)[0]


# --- the index -------------------------------------------------------------------------------------------------
def index_dirty_stock_images(batch: int = INDEX_BATCH, build_batch: int | None = None) -> int:
    """One unit of the index worker's work (the index task): check the active embedder version against the live
    collection (workers.index_lifecycle), upsert the first `batch` stock images flagged dirty into the live (and the
    building) collection, then cover the next `build_batch` stock images of a build in progress (switching when it
    is complete). Returns how many stock images are left: flagged dirty plus those a build has yet to cover.

    Dirty flags are cleared only after the upsert succeeded, so a crash leaves the rows dirty for the next run, and
    an upsert keyed by the StockImage id makes doing a batch twice harmless; a build resumes from its cursor."""
    from . import index_lifecycle

    return index_lifecycle.step(batch, build_batch or index_lifecycle.BUILD_BATCH)


def remove_from_index(stock_image_ids: list[int]) -> int:
    """Drop the vectors of deleted stock images from the live and any building collection (ids that still exist in
    the database are kept)."""
    from . import index_lifecycle

    alive = set(StockImage.objects.filter(pk__in=stock_image_ids).values_list("pk", flat=True))
    gone = [i for i in stock_image_ids if i not in alive]
    index_lifecycle.remove(gone)
    return len(gone)


def reindex(run_id: int, token: str = "sweeper") -> None:
    """An operator's full re-index: start a build of the active embedder version in a new collection (or ride on the
    one under way); the index task fills it in bounded batches while the live collection keeps serving, then it
    becomes live and the run `done` (workers.index_lifecycle). The live collection is never emptied."""
    from . import index_lifecycle

    index_lifecycle.reindex(run_id, token)


def index_sweep() -> dict:
    """The sweeper's index checks (active embedder version, lost re-index runs, retired collections); `work`: the
    index task has something to do."""
    from . import index_lifecycle

    return index_lifecycle.sweep()


# --- model roll-out --------------------------------------------------------------------------------------------
def roll_out_model(version_id: int) -> str:
    """Check that the checkpoint loads (a broken file must never become active), then make it the one active
    version. Workers pick it up on their next task."""
    from imagegen.generator import StockImageGenerator
    from marketplace.jobs.model_versions import rollout_finished

    version = ModelVersion.objects.get(pk=version_id)
    try:
        StockImageGenerator.from_checkpoint(version.checkpoint, device="cpu")  # raises CheckpointError on a bad file
    except Exception as exc:  # the operator sees why in the console; the task still fails
        rollout_finished(version_id, error=f"{type(exc).__name__}: {exc}")
        raise
    with transaction.atomic():
        ModelVersion.objects.filter(is_active=True).exclude(pk=version_id).update(is_active=False)
        ModelVersion.objects.filter(pk=version_id).update(is_active=True, activated_at=timezone.now())
        rollout_finished(version_id)
    return version.label
