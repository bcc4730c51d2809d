"""Photo jobs: create, publish, claim, advance, hand on, complete, fail, retry.

The pattern (docs/FACTS.md): the row is created in the upload's transaction and published on commit; a worker
claims it with one conditional UPDATE (state + claim token + lease), so a duplicate delivery does nothing; results
and the final state are written in one transaction; a periodic sweeper (marketplace.jobs.sweeper) publishes again
rows that stayed pending (a failed publish) or whose lease lapsed (a crashed worker the broker did not redeliver).
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import completion, job_events, lifecycle, queue, task_names
from .models import ImageJob

State = ImageJob.State


# --- publishing ----------------------------------------------------------------------------------------------
def _stage_task(job: ImageJob) -> str:
    if job.state == State.SEARCHING:
        return task_names.SEARCH_CATALOGUE
    if settings.PREPROCESS_SEPARATE and job.state in (State.PENDING, State.PREPROCESSING):
        return task_names.PREPROCESS_PHOTO  # CPU workers preprocess, then hand the job to the batched generator
    return task_names.GENERATE_STOCK_IMAGE


def job_publish(job_id: int) -> bool:
    """Publish the task for the job's current stage now (call it on commit). Records the publish time."""
    job = ImageJob.objects.get(pk=job_id)
    if job.state in (State.DONE, State.FAILED):
        return False
    name = _stage_task(job)
    sent_at = timezone.now()  # before sending: the worker may claim the job before mark_published below runs
    task_id = queue.publish(name, [job.pk], queue.queue_for(name))
    if task_id is None:
        return False
    lifecycle.mark_published(ImageJob, job.pk, at=sent_at)
    return True


def job_publish_on_commit(job_id: int) -> None:
    transaction.on_commit(lambda: job_publish(job_id))


def job_send_on_commit(job_id: int, task_name: str, published_at) -> None:
    """Send the next stage's task when the caller's transaction commits, for a row that transaction already marked
    `published_at` (with the write it made anyway). Why not `job_publish_on_commit`: its separate write of the publish
    time, landing just after the send, raced the worker's claim of the same row for SQLite's write lock, and each
    such collision cost the claim one to three milliseconds of busy-wait, twice per photo (measured by
    bench/bench_pipeline.py). If the send fails the mark is cleared, so the sweeper's next pass publishes again; a
    process killed between the commit and the send leaves the mark, and the sweeper publishes again once it is
    JOB_REPUBLISH_AFTER_SECONDS old."""
    jobs_send_on_commit([job_id], task_name, published_at)


def jobs_send_on_commit(job_ids: list[int], task_name: str, published_at) -> None:
    """`job_send_on_commit` for several rows marked with the same `published_at`, as ONE task whose argument is
    the list of ids (the search stage of a batch: one message, one delivery, one index query for all of them)."""
    ids = list(job_ids)
    args = [ids[0]] if len(ids) == 1 else [ids]

    def send() -> None:
        if queue.publish(task_name, args, queue.queue_for(task_name)) is None:
            ImageJob.objects.filter(pk__in=ids, published_at=published_at).update(published_at=None)

    transaction.on_commit(send)


def _first_task() -> str:
    return task_names.PREPROCESS_PHOTO if settings.PREPROCESS_SEPARATE else task_names.GENERATE_STOCK_IMAGE


def job_create(*, owner_id: int, garment_type: str, listing_photo=None, search_query=None) -> ImageJob:
    """Create the job row for an uploaded photo; its task is published when the caller's transaction commits.
    `owner_id`, not the user: the caller has the id at hand (a listing's seller_id), and reading the user for it
    cost each upload a query."""
    kind = ImageJob.Kind.LISTING_PHOTO if listing_photo is not None else ImageJob.Kind.SEARCH_QUERY
    job = ImageJob.objects.create(kind=kind, owner_id=owner_id, garment_type=garment_type, listing_photo=listing_photo,
                                  search_query=search_query, published_at=timezone.now())
    job_send_on_commit(job.pk, _first_task(), job.published_at)
    return job


def job_retry(job: ImageJob) -> bool:
    """Put a failed job back in the queue (from the start: it is cheap and its inputs may have changed)."""
    with transaction.atomic():
        n = ImageJob.objects.filter(pk=job.pk, state=State.FAILED).update(
            state=State.PENDING, error="", claimed_by="", lease_expires_at=None, attempts=0, finished_at=None,
            confident=None, confidence_note="", preprocessed_input="", marks={})
        if n:
            job_publish_on_commit(job.pk)
    return bool(n)


def jobs_retry_failed(limit: int = 1000) -> int:
    """An operator's "retry failed": every failed photo job (up to `limit`) back in the queue."""
    return sum(job_retry(job) for job in ImageJob.objects.filter(state=State.FAILED).order_by("pk")[:limit])


# --- claiming (called by workers) ----------------------------------------------------------------------------
class ClaimLost(Exception):
    """This delivery no longer holds the job (another delivery took it over after the lease lapsed)."""


def job_claim(job_id: int, task_id: str, from_states, to_state: str, count_attempt: bool) -> ImageJob | None:
    """Take the job for this delivery, or return None when another live delivery holds it or it moved on.

    Free to take when unclaimed, claimed by this very task id (a redelivery after the worker died mid-task), or
    when the holder's lease lapsed."""
    updates = dict(state=to_state, started_at=Coalesce("started_at", timezone.now()))
    if count_attempt:
        updates["attempts"] = F("attempts") + 1
    if not lifecycle.claim(ImageJob, job_id, task_id, from_states=from_states,
                           lease_seconds=settings.JOB_LEASE_SECONDS, **updates):
        return None
    job = ImageJob.objects.get(pk=job_id)
    return None if _gave_up(job, task_id) else job


def _gave_up(job: ImageJob, task_id: str) -> bool:
    """A job claimed more than JOB_MAX_ATTEMPTS times fails instead of running again (its worker was lost each
    time)."""
    if job.attempts <= settings.JOB_MAX_ATTEMPTS:
        return False
    job_fail(job.pk, task_id, f"gave up after {job.attempts - 1} attempts: the worker was lost each time")
    return True


def job_take(job_id: int, task_id: str, from_states, to_state: str) -> ImageJob | None:
    """`job_claim` (counting an attempt) for a stage that reads the row before it claims, to spare deliveries that
    cannot win the write: ONE read of the row with its source and any generated image, then the conditional claim,
    nothing read back.

    The claim's UPDATE also requires the attempts it read, so the row in hand is exactly what the UPDATE left (the
    same values are set on it); if anything took the row in between, it falls back to `job_claim`. None: another
    live delivery holds it, it moved on (a batch took it, it is done or failed), or it ran out of attempts.
    Measured: one database round trip fewer per photo, and none for its source (bench/bench_pipeline.py)."""
    now = timezone.now()
    if not _may_take(job_id, task_id, from_states, now):
        return None
    job = ImageJob.objects.filter(lifecycle.free_for(task_id, now), pk=job_id, state__in=list(from_states)) \
        .select_related("listing_photo", "search_query", "generated").first()
    if job is None:
        return None
    lease = lifecycle.lease_until(settings.JOB_LEASE_SECONDS)
    taken = ImageJob.objects.filter(lifecycle.free_for(task_id, now), pk=job_id, state__in=list(from_states),
                                    attempts=job.attempts).update(
        state=to_state, claimed_by=task_id, lease_expires_at=lease, attempts=job.attempts + 1,
        started_at=job.started_at or now)
    if not taken:
        return job_claim(job_id, task_id, from_states, to_state, count_attempt=True)
    job.state, job.claimed_by, job.lease_expires_at = to_state, task_id, lease
    job.attempts, job.started_at = job.attempts + 1, job.started_at or now
    return None if _gave_up(job, task_id) else job


def _may_take(job_id: int, task_id: str, from_states, now) -> bool:
    """Whether `job_take` can win the row: in one of `from_states` and free for this delivery (`lifecycle.free_for`:
    unclaimed, its own, or its holder's lease lapsed), by a plain SQL read of three columns.

    Why not the ORM: under load most gpu deliveries are messages of jobs a batch already took, and this read is all
    they do. The ORM's read with the claim rule and the source joins cost 0.74 ms of Python to build (SQLite,
    in-process; 15 of every 16 deliveries at batch 16); this one 0.012 ms. A row that passes is read again by the
    ORM query, which applies the same rule."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {quote('state')}, {quote('claimed_by')}, {quote('lease_expires_at')} < %s "
                       f"FROM {quote(ImageJob._meta.db_table)} WHERE {quote(ImageJob._meta.pk.column)} = %s",
                       [connection.ops.adapt_datetimefield_value(now), job_id])
        row = cursor.fetchone()
    if row is None:
        return False
    state, holder, lapsed = row
    return state in from_states and (holder in ("", task_id) or bool(lapsed))


def jobs_claim_batch(task_id: str, exclude: list[int], limit: int, *, preprocessed: bool) -> list[ImageJob]:
    """A batch collector's claim: up to `limit` further photo jobs waiting for the generate stage, oldest first,
    each taken by the same conditional rule as `job_claim` (one UPDATE for all) for this delivery's token.

    Waiting means unclaimed and `pending` (the default layout: this worker preprocesses them), or `generating`
    with a stored preprocessed input (`preprocessed`: CPU workers preprocessed them). Rows this very token already
    holds in the generate stage are taken back too (a redelivery of a batch leader that crashed mid-batch), and so
    are rows whose holder's lease lapsed. Their own messages, delivered later, then find them held or moved on and
    do nothing."""
    if limit <= 0:
        return []
    waiting = (Q(state=State.GENERATING) & ~Q(preprocessed_input="")) if preprocessed else Q(state=State.PENDING)
    mine = Q(claimed_by=task_id, state__in=[State.PREPROCESSING, State.GENERATING])
    # A crashed batch's jobs, once their leases lapse: taken together again rather than one by one as the sweeper
    # publishes each.
    lapsed = Q(state__in=[State.PREPROCESSING, State.GENERATING], lease_expires_at__lt=timezone.now())
    candidates = list(ImageJob.objects.filter((waiting & Q(claimed_by="")) | mine | lapsed).exclude(pk__in=exclude)
                      .order_by("pk").values_list("pk", flat=True)[:limit])
    states = [State.PENDING, State.PREPROCESSING, State.GENERATING]
    taken = lifecycle.claim_many(ImageJob, candidates, task_id, from_states=states,
                                 lease_seconds=settings.JOB_LEASE_SECONDS,
                                 state=State.GENERATING,
                                 attempts=F("attempts") + 1, started_at=Coalesce("started_at", timezone.now()))
    batch = []
    for job in ImageJob.objects.filter(pk__in=taken).select_related("listing_photo", "search_query", "generated") \
            .order_by("pk"):
        if not _gave_up(job, task_id):
            batch.append(job)
    return batch


def jobs_claim_for_search(job_ids: list[int], task_id: str) -> list[ImageJob]:
    """The search stage's `job_claim` for the jobs one search task names (a generate batch hands them on together),
    in one conditional UPDATE. Returns the jobs this delivery now holds, oldest first, with their generated image;
    a job another live delivery holds, or that moved on, is left out."""
    lifecycle.claim_many(ImageJob, job_ids, task_id, from_states=[State.SEARCHING],
                         lease_seconds=settings.JOB_LEASE_SECONDS, state=State.SEARCHING,
                         started_at=Coalesce("started_at", timezone.now()), read_back=False)
    return list(ImageJob.objects.filter(pk__in=list(job_ids), claimed_by=task_id, state=State.SEARCHING)
                .select_related("generated").order_by("pk"))


def job_advance(job_id: int, task_id: str, to_state: str, **fields) -> None:
    """Move a held job to its next state (renewing the lease); raises ClaimLost if this delivery lost it."""
    if not lifecycle.renew(ImageJob, job_id, task_id, lease_seconds=settings.JOB_LEASE_SECONDS,
                           extra=~Q(state__in=[State.DONE, State.FAILED]), state=to_state, **fields):
        raise ClaimLost(job_id)


def job_heartbeat(job_id: int, task_id: str) -> lifecycle.Heartbeat:
    """Keep this delivery's short lease alive while a stage runs (`with job_heartbeat(...)`): a killed worker's job
    is then published again by the sweeper within a lease, instead of after the broker's visibility timeout."""
    return lifecycle.Heartbeat(ImageJob, job_id, task_id, lease_seconds=settings.JOB_LEASE_SECONDS,
                               extra=Q(state__in=ImageJob.ACTIVE_STATES))


def jobs_heartbeat(job_ids: list[int], task_id: str) -> lifecycle.Heartbeat:
    """`job_heartbeat` for every job a batch holds, by one thread (`with jobs_heartbeat(ids, task_id):`)."""
    return lifecycle.Heartbeat(ImageJob, job_ids, task_id, lease_seconds=settings.JOB_LEASE_SECONDS,
                               extra=Q(state__in=ImageJob.ACTIVE_STATES))


def job_hand_to_search(job_id: int, task_id: str, **fields) -> None:
    """End the generate stage: release the claim, set `searching`, publish the search task on commit."""
    if not jobs_hand_on(task_id, {job_id: fields}, State.SEARCHING):
        raise ClaimLost(job_id)


def job_hand_to_generator(job_id: int, task_id: str, **fields) -> None:
    """End the separate preprocessing stage: release the claim, set `generating` (unclaimed: waiting for the
    batched generator worker), publish the generate task on commit."""
    if not jobs_hand_on(task_id, {job_id: fields}, State.GENERATING):
        raise ClaimLost(job_id)


def jobs_hand_on(task_id: str, fields_by_job: dict[int, dict], to_state: str) -> list[int]:
    """Release several held jobs into `to_state` in ONE transaction (a batch's hand-off: one commit, not one per
    photo), writing each its own fields; their next stage is published on commit. Returns the ids handed on; a job
    this delivery no longer holds is skipped (its new holder carries on).

    Jobs handed to search go as ONE search task for all of them (`search_catalogue` takes a list): the index worker
    then claims, queries and completes them together, and no per-photo message is left to deliver and skip. Jobs
    handed to the generator each get their own task (its batch collects them from the table)."""
    handed = []
    to_search = to_state == State.SEARCHING
    task_name = task_names.SEARCH_CATALOGUE if to_search else task_names.GENERATE_STOCK_IMAGE
    published_at = timezone.now()  # marked with the hand-off's own write (job_send_on_commit says why)
    with transaction.atomic():
        for job_id, fields in fields_by_job.items():
            if lifecycle.release(ImageJob, job_id, task_id, extra=Q(state__in=ImageJob.ACTIVE_STATES),
                                 state=to_state, published_at=published_at, **fields):
                handed.append(job_id)
                if not to_search:
                    job_send_on_commit(job_id, task_name, published_at)
        if to_search and handed:
            jobs_send_on_commit(handed, task_name, published_at)
    return handed


@dataclass(frozen=True)
class SearchHit:
    stock_image_id: int
    item_id: int
    score: float


@dataclass
class Completion:
    """How a job ends, as its search stage judged it: what `job_complete` and `jobs_complete_held` write.

    `confident` is the search stage's verdict (None: not judged). Rows are marked `low_confidence` when the job is
    not confident (all of them) or, when it is, those scoring below `confidence_threshold`. `fields`: the holding
    stage's own fields, written with the same UPDATE (their `timings` and `marks` merged in)."""

    job_id: int
    hits: list[SearchHit]
    timings: dict
    confident: bool | None = None
    confidence_note: str = ""
    confidence_threshold: float | None = None
    marks: dict | None = None
    fields: dict | None = None

    def low_confidence(self, score: float) -> bool:
        return self.confident is False or bool(self.confident and self.confidence_threshold is not None
                                               and score < self.confidence_threshold)

    def finish(self, task_id: str, from_state: str, base_timings: dict, base_marks: dict) -> int:
        """The conditional UPDATE to `done` (0 rows: this delivery no longer holds the job)."""
        fields = dict(self.fields or {})
        timings = {**base_timings, **fields.pop("timings", {}), **self.timings}
        marks = {**base_marks, **fields.pop("marks", {}), **(self.marks or {})}
        return ImageJob.objects.filter(pk=self.job_id, claimed_by=task_id, state=from_state).update(
            state=State.DONE, claimed_by="", lease_expires_at=None, finished_at=timezone.now(), error="",
            timings=timings, marks=marks, confident=self.confident, confidence_note=self.confidence_note[:300],
            **fields)


def job_complete(job_id: int, task_id: str, hits: list[SearchHit], timings: dict, *, confident: bool | None = None,
                 confidence_note: str = "", confidence_threshold: float | None = None, marks: dict | None = None
                 ) -> bool:
    """Write the job's results and its final state in one transaction (the index worker's search, which holds the
    job in `searching`). Replaces any earlier rows of the same source, so a re-run never duplicates; returns False
    (writing nothing) if this delivery lost the claim. The verdict: `Completion`. A model worker that searched
    itself completes the rows it already holds with `jobs_complete_held`.

    The results themselves are written by the app that owns the job's source (listings, shopping), registered in
    `completion`: this module stays below the domain apps."""
    ending = Completion(job_id, hits, timings, confident, confidence_note, confidence_threshold, marks)
    with transaction.atomic(savepoint=False):  # inside a search batch's transaction: part of its one commit
        # The job's source comes with it: the result writer needs it (`of`: PostgreSQL locks only the job's row).
        job = ImageJob.objects.select_for_update(of=("self",)).select_related("listing_photo", "search_query") \
            .get(pk=job_id)
        if job.claimed_by != task_id or job.state != State.SEARCHING:
            return False
        completion.write_results([(job, hits, ending.low_confidence)])
        ending.finish(task_id, State.SEARCHING, job.timings, job.marks)
        job_events.announce_end(job_id)
    return True


def jobs_complete_held(ending: list[tuple[ImageJob, Completion]], task_id: str, from_state: str,
                       first: Collection[int] = ()) -> list[int]:
    """`job_complete` for jobs this delivery read with its claim (and their sources), in the caller's transaction:
    each a conditional UPDATE, without reading it again; then the results of those it still held, written together
    (a batch of 16 took 48 queries one job at a time, now 17). `first`: jobs that had no generated image when
    claimed, whose sources have no results to look for (`completion.ResultWriter`). Returns the ids that ended
    done."""
    with transaction.atomic(savepoint=False):
        won = [(job, end) for job, end in ending if end.finish(task_id, from_state, {}, {})]
        completion.write_results([(job, end.hits, end.low_confidence) for job, end in won], first)
        for job, _ in won:
            job_events.announce_end(job.pk)
    return [job.pk for job, _ in won]


def job_fail(job_id: int, task_id: str | None, reason: str) -> bool:
    """Record why the job failed (kept for the user and the operator); it can be retried."""
    qs = ImageJob.objects.filter(pk=job_id).exclude(state__in=[State.DONE, State.FAILED])
    if task_id is not None:
        qs = qs.filter(claimed_by=task_id)
    failed = bool(qs.update(state=State.FAILED, error=reason[:4000], claimed_by="", lease_expires_at=None,
                            finished_at=timezone.now()))
    if failed:
        job_events.announce_end(job_id)
    return failed


def job_wait_until_ended(job_id: int, timeout: float, read=None) -> ImageJob:
    """Block up to `timeout` seconds until the job is done or failed (woken by `job_events.announce_end`), and return
    it as last read: each re-read is `read()` (default: the row), so the API's long poll reads once with what its
    answer needs (the generated image) and answers with that read, not another."""
    read = read or (lambda: ImageJob.objects.get(pk=job_id))
    last = {}

    def ended() -> bool:
        last["job"] = read()
        return last["job"].state in (State.DONE, State.FAILED)

    job_events.wait_for_end(job_id, timeout, ended)
    return last["job"]
