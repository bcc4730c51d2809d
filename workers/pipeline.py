"""What the tasks do, as plain functions (tests and management commands call them too).

Per photo: `generate_stock_image` (gpu queue: decode, preprocess, G1 -> concat -> G2, embed, store) hands the job to
`search_catalogue` (index queue: query Milvus, write suggestions or recommendations and `done` in one transaction).
Every stage first claims the job row (marketplace.jobs.services.job_claim), so a duplicate delivery is a no-op and
a redelivery after a crash takes over cleanly.
"""
from __future__ import annotations

import io
import logging
import time
import traceback

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from marketplace.catalogue.models import StockImage
from marketplace.jobs import services as jobs
from marketplace.jobs.models import GeneratedImage, ImageJob, ModelVersion, ReindexRun
from marketplace.jobs.services import ClaimLost, SearchHit

from . import runtime

log = logging.getLogger(__name__)
State = ImageJob.State

# Candidates fetched from the index per query; suggestions/recommendations keep the best few after dedup by item.
SEARCH_CANDIDATES = 50
# Stock images embedded + upserted per index task: ~1.5 ms to embed each and ~20k/s to upsert, so ~0.5 s a batch.
INDEX_BATCH = 300


def _png(image) -> ContentFile:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return ContentFile(buf.getvalue())


def _reason(stage: str, exc: BaseException) -> str:
    return f"{stage} failed: {type(exc).__name__}: {exc}"


# --- stage 1: generate -----------------------------------------------------------------------------------------
def generate_stock_image(job_id: int, task_id: str) -> str:
    job = jobs.job_claim(job_id, task_id, [State.PENDING, State.PREPROCESSING, State.GENERATING],
                         State.PREPROCESSING, count_attempt=True)
    if job is None:
        return "skipped: not claimable (done, failed, or held by a live delivery)"
    try:
        from imagegen.images import ImageInputError, load_image

        t0 = time.perf_counter()
        try:
            with job.source_image.open("rb") as fh:
                photo = load_image(fh.read())
        except (ImageInputError, FileNotFoundError) as exc:
            jobs.job_fail(job_id, task_id, f"the photo could not be read: {exc}")
            return "failed: unreadable photo"
        decode_ms = (time.perf_counter() - t0) * 1000

        generator, version = runtime.active_generator()
        jobs.job_advance(job_id, task_id, State.GENERATING)
        if settings.PIPELINE_FAULT_DELAY_S:  # fault injection for crash tests; 0 in production
            time.sleep(settings.PIPELINE_FAULT_DELAY_S)
        result = generator.generate(photo, job.garment_type)

        from search.embedding import EMBEDDER_VERSION, embed_image

        t1 = time.perf_counter()
        vector = embed_image(result.stock)
        embed_ms = (time.perf_counter() - t1) * 1000
        _store_generated(job, result, vector, EMBEDDER_VERSION)
        timings = {"decode": round(decode_ms, 1), **{k: round(v, 1) for k, v in result.timings_ms.items()},
                   "embed": round(embed_ms, 1)}
        jobs.job_hand_to_search(job_id, task_id, timings=timings, preprocess_method=result.method,
                                warnings=list(result.warnings), model_label=result.model_label, model_version=version)
        return "generated"
    except ClaimLost:
        return "skipped: claim lost to another delivery"
    except Exception as exc:
        log.error("job %s: generate failed\n%s", job_id, traceback.format_exc())
        jobs.job_fail(job_id, task_id, _reason("generating the stock image", exc))
        return "failed"


def _store_generated(job: ImageJob, result, vector: np.ndarray, embedder_version: str) -> GeneratedImage:
    """One GeneratedImage per job: a re-run replaces the files and row instead of adding another."""
    old = GeneratedImage.objects.filter(job=job).first()
    if old:
        for f in (old.image, old.stage1_image, old.preprocessed_image):
            if f:
                f.delete(save=False)
        old.delete()
    gen = GeneratedImage(job=job, embedding=np.asarray(vector, "<f4").tobytes(), embedder_version=embedder_version,
                         model_label=result.model_label, trained=bool(result.trained))
    gen.image.save(f"job{job.pk}_stock.png", _png(result.stock), save=False)
    gen.stage1_image.save(f"job{job.pk}_stage1.png", _png(result.stage1), save=False)
    gen.preprocessed_image.save(f"job{job.pk}_input.png", _png(result.preprocessed), save=False)
    gen.save()
    return gen


# --- stage 2: search -------------------------------------------------------------------------------------------
def search_catalogue(job_id: int, task_id: str) -> str:
    job = jobs.job_claim(job_id, task_id, [State.SEARCHING], State.SEARCHING, count_attempt=False)
    if job is None:
        return "skipped: not claimable"
    try:
        from search.embedding import EMBEDDER_VERSION, embed_image

        t0 = time.perf_counter()
        gen = job.generated
        if gen.embedder_version == EMBEDDER_VERSION:
            vector = np.frombuffer(bytes(gen.embedding), "<f4")
        else:  # the descriptor changed since generation: embed the stored image again
            from PIL import Image

            with gen.image.open("rb") as fh:
                vector = embed_image(Image.open(fh).convert("RGB"))
        hits = runtime.vector_index().search(vector[None, :], SEARCH_CANDIDATES, category=job.garment_type)[0]
        alive = set(StockImage.objects.filter(pk__in=[h.id for h in hits]).values_list("pk", flat=True))
        found = [SearchHit(h.id, h.item_id, h.score) for h in hits if h.id in alive]
        search_ms = (time.perf_counter() - t0) * 1000
        ok = jobs.job_complete(job_id, task_id, found, {"search": round(search_ms, 1)})
        return "done" if ok else "skipped: claim lost"
    except Exception as exc:
        log.error("job %s: search failed\n%s", job_id, traceback.format_exc())
        jobs.job_fail(job_id, task_id, _reason("searching the catalogue", exc))
        return "failed"


# --- the index -------------------------------------------------------------------------------------------------
def index_dirty_stock_images(batch: int = INDEX_BATCH) -> int:
    """Embed and upsert the first `batch` stock images flagged dirty; returns how many remain dirty.

    The flag is cleared only after the upsert succeeded, so a crash leaves the rows dirty for the next run, and an
    upsert keyed by the StockImage id makes doing a batch twice harmless."""
    from PIL import Image

    from search.embedding import EMBEDDER_VERSION, embed_image

    rows = list(StockImage.objects.filter(index_dirty=True).select_related("item").order_by("pk")[:batch])
    ok, vectors, broken = [], [], []
    for row in rows:
        try:
            with row.image.open("rb") as fh:
                vectors.append(embed_image(Image.open(fh).convert("RGB")))
            ok.append(row)
        except Exception as exc:  # a missing or damaged file must not block the rest of the catalogue
            log.warning("stock image %s cannot be indexed: %s", row.pk, exc)
            broken.append(row.pk)
    if ok:
        runtime.vector_index().upsert([r.pk for r in ok], np.stack(vectors), [r.item_id for r in ok],
                                      [r.item.category for r in ok])
    with transaction.atomic():
        StockImage.objects.filter(pk__in=[r.pk for r in ok]).update(index_dirty=False, indexed_version=EMBEDDER_VERSION)
        StockImage.objects.filter(pk__in=broken).update(index_dirty=False, indexed_version="unreadable")
    return StockImage.objects.filter(index_dirty=True).count()


def remove_from_index(stock_image_ids: list[int]) -> int:
    """Drop the vectors of deleted stock images (ids that still exist in the database are kept)."""
    alive = set(StockImage.objects.filter(pk__in=stock_image_ids).values_list("pk", flat=True))
    gone = [i for i in stock_image_ids if i not in alive]
    runtime.vector_index().delete(gone)
    return len(gone)


def reindex(run_id: int) -> None:
    """An operator's full re-index: empty the collection (vectors of deleted stock images go with it), flag every
    stock image dirty, then work through them in batches, counting progress. Searches during a rebuild see a partial
    catalogue; at this catalogue size a rebuild takes seconds."""
    if not ReindexRun.objects.filter(pk=run_id, state=ReindexRun.State.PENDING).update(state=ReindexRun.State.RUNNING):
        return
    try:
        runtime.vector_index().clear()
        total = StockImage.objects.count()
        StockImage.objects.update(index_dirty=True)
        ReindexRun.objects.filter(pk=run_id).update(total=total)
        remaining = total
        while remaining:
            remaining = index_dirty_stock_images()
            ReindexRun.objects.filter(pk=run_id).update(done=total - remaining)
        ReindexRun.objects.filter(pk=run_id).update(state=ReindexRun.State.DONE, finished_at=timezone.now())
    except Exception as exc:
        log.error("reindex %s failed\n%s", run_id, traceback.format_exc())
        ReindexRun.objects.filter(pk=run_id).update(state=ReindexRun.State.FAILED, error=_reason("re-index", exc),
                                                    finished_at=timezone.now())


# --- model roll-out --------------------------------------------------------------------------------------------
def roll_out_model(version_id: int) -> str:
    """Check that the checkpoint loads (a broken file must never become active), then make it the one active
    version. Workers pick it up on their next task."""
    from imagegen.generator import StockImageGenerator

    version = ModelVersion.objects.get(pk=version_id)
    StockImageGenerator.from_checkpoint(version.checkpoint, device="cpu")  # raises CheckpointError on a bad file
    with transaction.atomic():
        ModelVersion.objects.filter(is_active=True).exclude(pk=version_id).update(is_active=False)
        ModelVersion.objects.filter(pk=version_id).update(is_active=True, activated_at=timezone.now())
    return version.label
