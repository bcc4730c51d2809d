"""The generate stage in micro-batches: one delivery takes up to GPU_BATCH_MAX waiting photo jobs and runs the
generators and the embedding on them as one batch.

Why: G1 + G2 at 64 px cost 12 ms an image at batch 1 and 3.8 ms at batch 16 on CPU, and on a GPU batching is where
throughput comes from. Why collect from the database and not from the broker: the job rows already say what is
waiting, and a row is taken by the same conditional claim as a single job (marketplace.jobs.photo_jobs.
jobs_claim_batch), so everything that makes one job safe holds for each job of a batch:

- each job is claimed with this delivery's token and its own lease, kept alive by its own heartbeat; the messages
  of the jobs a batch took arrive later and find them held or moved on, and do nothing;
- a photo that cannot be read or preprocessed fails alone, before the batch runs; if the batched forward itself
  raises, each photo is run again alone, so only the one that breaks it fails;
- a crash mid-batch leaves every job of the batch claimed with a lapsing lease: the leader's redelivery takes them
  all back at once (same token), else the sweeper publishes each again, and each completes once (every write is
  conditional on holding the claim).

Latency: with GPU_BATCH_WAIT_MS = 0 (the default) a batch is only what is already queued when a photo is taken, so
a photo alone never waits for company; under load the queue fills while a batch runs and batches form by themselves.
"""
from __future__ import annotations

import logging
import time
import traceback

from django.conf import settings
from django.db import transaction

from marketplace.jobs import hops, queue
from marketplace.jobs import photo_jobs as jobs
from marketplace.jobs.models import GeneratedImage, ImageJob
from search.embedders import query_vectors

from .. import runtime
from . import in_place_search
from .photos import Photo, ReadError, failure_reason, prepare_photo
from .storage import generated_row, replace_generated

log = logging.getLogger(__name__)
State = ImageJob.State


COLLECT_POLL_S = 0.005

def generate_stock_image(job_id: int, task_id: str) -> str:
    """The gpu queue's task: claim this job, collect others waiting, run them as one batch (preprocess each
    photo alone, then G1 -> G2 and the embedding on the batch)."""
    claimed_at = hops.now()
    states = [State.PENDING, State.PREPROCESSING, State.GENERATING]
    # Read first, then claim: most often a message whose job an earlier batch took arrives after the work is done,
    # and a read answers that without the claim's write, which would queue for SQLite's write lock behind the
    # workers doing real work. The read brings the row and its source, so the claim reads nothing back.
    leader = jobs.job_take(job_id, task_id, states, State.GENERATING)
    if leader is None:
        return "skipped: taken by a batch, done, failed, or held by a live delivery"
    batch = [Photo(leader, {hops.CLAIMED: claimed_at})]
    batch += [Photo(job, {hops.CLAIMED: hops.now()}) for job in collect(leader, task_id)]
    ids = [p.job.pk for p in batch]
    with jobs.jobs_heartbeat(ids, task_id):
        try:
            return run(batch, task_id)
        except Exception as exc:  # e.g. the active model does not load: every job still held says why
            log.error("batch %s failed\n%s", ids, traceback.format_exc())
            for pk in ids:  # conditional on still holding it: a job already failed or handed on is left alone
                jobs.job_fail(pk, task_id, failure_reason("generating the stock image", exc))
            return "failed"

def collect(leader: ImageJob, task_id: str) -> list[ImageJob]:
    """Claim up to GPU_BATCH_MAX - 1 further waiting jobs, waiting at most GPU_BATCH_WAIT_MS for them to arrive.

    A photo that arrives alone (no message waits on the gpu queue, no batch wait, a first delivery) does not look:
    the query would find nothing and cost the lone photo about 2 ms (bench/bench_pipeline.py, "gpu claim + batch
    collect"). A redelivered leader always looks: it takes back at once the batch its crashed delivery held."""
    limit = max(1, settings.GPU_BATCH_MAX) - 1
    if limit and not settings.GPU_BATCH_WAIT_MS and leader.attempts <= 1 \
            and queue.waiting(settings.QUEUE_GPU) == 0:
        return []
    leader_id = leader.pk
    deadline = time.monotonic() + settings.GPU_BATCH_WAIT_MS / 1000
    taken: list[ImageJob] = []
    while len(taken) < limit:
        taken += jobs.jobs_claim_batch(task_id, [leader_id, *(j.pk for j in taken)], limit - len(taken),
                                       preprocessed=settings.PREPROCESS_SEPARATE)
        if len(taken) >= limit or time.monotonic() >= deadline:
            break
        time.sleep(COLLECT_POLL_S)
    return taken

def run(batch: list[Photo], task_id: str) -> str:
    started = hops.now()
    generator, version = runtime.active_generator()
    # One read of the live collection: the vectors below and the search use the same one. Read now, not after the
    # preprocessing: after 20-odd ms of mediapipe the same read took 0.95 ms instead of about 0.3 (cold caches).
    searcher = _searcher()
    embedder = searcher[0] if searcher is not None else runtime.live_embedder()
    for p in batch:
        p.marks.update({hops.STARTED: started, hops.BATCH_SIZE: len(batch)})
        if p.job.published_at:
            p.marks[hops.PUBLISHED] = p.job.published_at.timestamp()
        try:
            prepare_photo(p, generator)
        except ReadError as exc:
            jobs.job_fail(p.job.pk, task_id, f"the photo could not be read: {exc}")
            p.job = None
        except Exception as exc:
            log.error("job %s: preprocessing failed\n%s", p.job.pk, traceback.format_exc())
            jobs.job_fail(p.job.pk, task_id, failure_reason("generating the stock image", exc))
            p.job = None
    # No write here to say the batch moved on to the generators: its jobs were claimed straight into `generating`
    # (`preprocessing` is the separate CPU stage's state), and every later write is conditional on the claim.
    ready = [p for p in batch if p.job]
    if not ready:
        return f"batch of {len(batch)}: nothing left to generate"
    if settings.PIPELINE_FAULT_DELAY_S:  # fault injection for crash tests; 0 in production
        time.sleep(settings.PIPELINE_FAULT_DELAY_S)
    failed: list[tuple[Photo, BaseException]] = []
    try:
        _forward(ready, generator, embedder)
    except Exception as exc:
        if len(ready) == 1:
            log.error("job %s: generate failed\n%s", ready[0].job.pk, traceback.format_exc())
            failed.append((ready[0], exc))
        else:  # isolate the photo that breaks the batch: each alone, so only it fails
            log.warning("batch of %d failed; running its photos one by one\n%s", len(ready), traceback.format_exc())
            for p in ready:
                try:
                    _forward([p], generator, embedder)
                except Exception as one:
                    log.error("job %s: generate failed\n%s", p.job.pk, traceback.format_exc())
                    failed.append((p, one))
    for p, exc in failed:
        jobs.job_fail(p.job.pk, task_id, failure_reason("generating the stock image", exc))
    ready = [p for p in ready if all(p is not f for f, _ in failed)]
    return _store_and_hand_on(ready, task_id, version, embedder, searcher, len(batch))

def _forward(photos: list[Photo], generator, embedder) -> None:
    """G1 -> G2 and the embedding, each as one batch; per-photo timings are the batch's divided by its size.

    Each photo's own garment type goes with it: a garment-conditioned model (imagegen GANConfig.garments) renders
    every row of a mixed batch as the type its seller or buyer asked for; an unconditioned one ignores it."""
    results = generator.generate_preprocessed([p.pre for p in photos], [p.timings.get("preprocess", 0.0)
                                                                       for p in photos],
                                              garments=[str(p.job.garment_type) for p in photos])
    t0 = time.perf_counter()
    vectors = query_vectors(embedder, [r.stock for r in results], [r.preprocessed for r in results])
    embed_ms = (time.perf_counter() - t0) * 1000 / len(photos)
    done = hops.now()
    for p, result, vector in zip(photos, results, vectors):
        p.result, p.vector = result, vector
        p.timings.update(stage1=result.timings_ms["stage1"], stage2=result.timings_ms["stage2"], embed=embed_ms)
        p.marks[hops.GENERATED] = done

def _has_generated(job: ImageJob) -> bool:
    """Whether the job had a generated image when claimed (the claims read it with the row: no query here)."""
    try:
        job.generated
    except GeneratedImage.DoesNotExist:
        return False
    return True

def _searcher():
    """`in_place_search.searcher()`, or None when even looking fails (the index worker searches then)."""
    try:
        return in_place_search.searcher()
    except Exception:
        log.warning("could not look for the live collection here; the index worker searches\n%s",
                    traceback.format_exc())
        return None

def _store_and_hand_on(ready: list[Photo], task_id: str, version, embedder, searcher, size: int) -> str:
    """Write each photo's images to storage; with a `searcher` (in_place_search.searcher), search the catalogue here and
    save the rows, results and `done` in one commit (in_place_search). Without
    one, or when the search here fails, save the rows and hand the jobs to the index worker in one commit."""
    fresh = {p.job.pk for p in ready if not _has_generated(p.job)}  # before generated_row sets the new one
    rows, fields = [], {}
    for p in ready:
        try:
            rows.append(generated_row(p.job, p.result, p.vector, embedder.version))
        except Exception as exc:
            log.error("job %s: storing the generated image failed\n%s", p.job.pk, traceback.format_exc())
            jobs.job_fail(p.job.pk, task_id, failure_reason("storing the stock image", exc))
            continue
        p.marks[hops.STORED] = hops.now()
        timings = {**(p.job.timings or {}), **{k: round(v, 1) for k, v in p.timings.items()}}
        fields[p.job.pk] = dict(timings=timings, preprocess_method=p.result.method, warnings=list(p.result.warnings),
                                model_label=p.result.model_label, model_version=version,
                                marks={**(p.job.marks or {} if p.job.preprocessed_input else {}), **p.marks})
    held = [p.job for p in ready if p.job.pk in fields]
    found = None
    # Stored, then searched: writing the images in a thread beside the search saved nothing (both hold the GIL most
    # of the time) and made the search itself slower (bench/bench_pipeline.py).
    if searcher is not None and held:
        try:
            found = in_place_search.find_in_place(held, {p.job.pk: p.vector for p in ready}, searcher)
        except Exception as exc:  # the index worker searches instead
            log.warning("jobs %s: searching here failed; handing them to the index worker\n%s", list(fields),
                        traceback.format_exc())
            in_place_search.failed(exc)
    if found is not None:
        try:
            done = in_place_search.complete_in_place(held, rows, fields, found, task_id, fresh)
        except Exception:  # nothing was saved: the index worker searches instead, as if this never tried
            log.warning("jobs %s: completing here failed; handing them to the index worker\n%s", list(fields),
                        traceback.format_exc())
            for row in rows:  # the rolled-back insert left them looking saved
                row.pk, row._state.adding, row._state.db = None, True, None
        else:
            if size == 1:
                return "done" if done else "failed"
            return f"generated and searched {len(done)} of a batch of {size}"
    with transaction.atomic():
        replace_generated(rows)
        handed = jobs.jobs_hand_on(task_id, fields, State.SEARCHING)
    if size == 1:
        return "generated" if handed else "failed"
    return f"generated {len(handed)} of a batch of {size}"
