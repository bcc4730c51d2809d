"""The job claim rules that make redelivery safe (marketplace.jobs.photo_jobs, runs, sweeper), on the real database."""
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from marketplace.catalogue.models import Item, StockImage
from marketplace.jobs import photo_jobs, runs, sweeper
from marketplace.jobs.models import ImageJob
from marketplace.jobs.photo_jobs import SearchHit
from marketplace.listings.models import Listing, ListingPhoto, Suggestion
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db
S = ImageJob.State


@pytest.fixture
def job(media_root):
    user = get_user_model().objects.create(username="seller")
    listing = Listing.objects.create(seller=user, title="t")
    photo = ListingPhoto.objects.create(listing=listing, image=ContentFile(image_bytes(), name="p.jpg"))
    return ImageJob.objects.create(kind="listing_photo", owner=user, listing_photo=photo)


@pytest.fixture
def stock(job):
    items = [Item.objects.create(title=f"i{i}", price=1, seller=job.owner) for i in range(3)]
    return [StockImage.objects.create(item=it, image=ContentFile(image_bytes(), name="s.jpg")) for it in items]


def test_duplicate_delivery_cannot_claim_a_held_job(job):
    assert photo_jobs.job_claim(job.pk, "task-a", [S.PENDING], S.PREPROCESSING, True) is not None
    assert photo_jobs.job_claim(job.pk, "task-b", [S.PENDING, S.PREPROCESSING], S.PREPROCESSING, True) is None
    assert ImageJob.objects.get(pk=job.pk).claimed_by == "task-a"


def test_redelivery_of_the_same_task_reclaims_at_once(job):
    photo_jobs.job_claim(job.pk, "task-a", [S.PENDING], S.PREPROCESSING, True)
    again = photo_jobs.job_claim(job.pk, "task-a", [S.PENDING, S.PREPROCESSING], S.PREPROCESSING, True)
    assert again is not None and again.attempts == 2


def test_another_delivery_takes_over_only_after_the_lease_lapses(job):
    photo_jobs.job_claim(job.pk, "task-a", [S.PENDING], S.PREPROCESSING, True)
    ImageJob.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    taken = photo_jobs.job_claim(job.pk, "task-b", [S.PREPROCESSING], S.PREPROCESSING, True)
    assert taken is not None and taken.claimed_by == "task-b"
    with pytest.raises(photo_jobs.ClaimLost):
        photo_jobs.job_advance(job.pk, "task-a", S.GENERATING)


def test_a_job_lost_too_often_fails_with_a_reason(job, settings):
    settings.JOB_MAX_ATTEMPTS = 2
    for _ in range(2):
        assert photo_jobs.job_claim(job.pk, "t", [S.PENDING, S.PREPROCESSING], S.PREPROCESSING, True) is not None
    assert photo_jobs.job_claim(job.pk, "t", [S.PREPROCESSING], S.PREPROCESSING, True) is None
    job.refresh_from_db()
    assert job.state == S.FAILED and "gave up after 2 attempts" in job.error


def test_completing_twice_writes_results_once(job, stock):
    photo_jobs.job_claim(job.pk, "gen", [S.PENDING], S.PREPROCESSING, True)
    photo_jobs.job_hand_to_search(job.pk, "gen")
    photo_jobs.job_claim(job.pk, "search", [S.SEARCHING], S.SEARCHING, False)
    hits = [SearchHit(s.pk, s.item_id, 0.9 - i / 10) for i, s in enumerate(stock)] + [SearchHit(stock[0].pk, stock[0].item_id, 0.1)]
    assert photo_jobs.job_complete(job.pk, "search", hits, {"search": 1.0})
    assert not photo_jobs.job_complete(job.pk, "search", hits, {"search": 1.0})  # done: nothing more is written
    rows = list(Suggestion.objects.filter(photo=job.listing_photo).values_list("rank", "stock_image_id"))
    assert rows == [(1, stock[0].pk), (2, stock[1].pk), (3, stock[2].pk)]
    assert ImageJob.objects.get(pk=job.pk).state == S.DONE


def test_sweeper_republishes_a_job_whose_publish_failed(job, settings):
    """The broker is unreachable here (nothing listens on port 1): the publish fails and the row stays pending,
    which is exactly what the sweeper looks for next time."""
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    from marketplace.jobs import queue

    queue._app = None
    ImageJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert sweeper.jobs_sweep()["image_jobs"] == 0  # tried, and could not publish
    assert ImageJob.objects.get(pk=job.pk).published_at is None
    queue._app = None


def test_sweeper_leaves_jobs_bound_for_a_paused_queue_alone(job, settings, monkeypatch):
    """A paused queue keeps its messages (staff console); copies published into it by the sweeper would pile up.
    The sweeper's choice is what is checked here: which rows it hands to the publisher."""
    from marketplace.jobs.models import QueuePause

    published = []
    monkeypatch.setattr(photo_jobs, "job_publish", lambda pk: published.append(pk) or True)
    ImageJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    QueuePause.objects.create(queue=settings.QUEUE_GPU, paused=True)
    assert sweeper.jobs_sweep()["image_jobs"] == 0 and published == []
    QueuePause.objects.filter(queue=settings.QUEUE_GPU).update(paused=False)
    assert sweeper.jobs_sweep()["image_jobs"] == 1 and published == [job.pk]


# --- one lifecycle for every kind of job (marketplace.jobs.lifecycle) ------------------------------------------
def _due(model, waiting, running):
    from marketplace.jobs import lifecycle

    return set(lifecycle.due_for_publish(model, waiting_states=waiting, running_states=running,
                                         stale_after_seconds=60))


def test_sweeper_rule_is_the_same_for_photo_jobs_training_runs_and_reindex_runs(job):
    """Lapsed lease => due; live lease => not due; waiting without a recent publish => due; just created => left to
    its own publish-on-commit."""
    from marketplace.jobs.models import ReindexRun, TrainingRun

    past, future = timezone.now() - timedelta(seconds=1), timezone.now() + timedelta(seconds=30)
    old = timezone.now() - timedelta(minutes=5)
    training = TrainingRun.objects.create(parameters={})
    reindex = ReindexRun.objects.create()
    cases = [(ImageJob, job.pk, [S.PENDING], ImageJob.ACTIVE_STATES, S.GENERATING),
             (TrainingRun, training.pk, ["pending"], ["running"], "running"),
             (ReindexRun, reindex.pk, ["pending"], ["running"], "running")]
    for model, pk, waiting, running, running_state in cases:
        assert pk not in _due(model, waiting, running), model  # just created
        model.objects.filter(pk=pk).update(created_at=old)
        assert pk in _due(model, waiting, running), model  # never published
        model.objects.filter(pk=pk).update(published_at=timezone.now())
        assert pk not in _due(model, waiting, running), model  # published recently
        model.objects.filter(pk=pk).update(state=running_state, claimed_by="t1", lease_expires_at=future)
        assert pk not in _due(model, waiting, running), model  # held, lease alive
        model.objects.filter(pk=pk).update(lease_expires_at=past)
        assert pk in _due(model, waiting, running), model  # the holder died


def test_heartbeat_keeps_a_short_lease_alive_and_stops_when_the_claim_is_lost(job, settings, transactional_db):
    import time

    from marketplace.jobs import lifecycle

    settings.JOB_LEASE_SECONDS = 1
    photo_jobs.job_claim(job.pk, "gen", [S.PENDING], S.PREPROCESSING, True)
    with photo_jobs.job_heartbeat(job.pk, "gen") as hb:
        time.sleep(2.2)  # two leases: only the heartbeat keeps it
        assert ImageJob.objects.get(pk=job.pk).lease_expires_at > timezone.now()
        assert photo_jobs.job_claim(job.pk, "other", [S.PREPROCESSING], S.PREPROCESSING, True) is None
        ImageJob.objects.filter(pk=job.pk).update(claimed_by="other")  # taken over
        assert hb.lost.wait(3)
    assert not lifecycle.renew(ImageJob, job.pk, "gen", lease_seconds=1)


def test_one_heartbeat_keeps_a_whole_batch_alive_until_it_holds_none(job, settings, transactional_db):
    """A batch's jobs are renewed by one thread, one UPDATE a beat: a job taken over is left alone, the others are
    kept; `lost` only once it holds none."""
    import threading
    import time

    settings.JOB_LEASE_SECONDS = 1
    listing = job.listing_photo.listing
    photos = [ListingPhoto.objects.create(listing=listing, image=ContentFile(image_bytes(), name="p.jpg"))
              for _ in range(2)]
    batch = [job] + [ImageJob.objects.create(kind="listing_photo", owner=job.owner, listing_photo=p) for p in photos]
    ids = [j.pk for j in batch]
    ImageJob.objects.filter(pk__in=ids).update(state=S.GENERATING, claimed_by="gen",
                                               lease_expires_at=timezone.now() + timedelta(seconds=1))
    before = threading.active_count()
    with photo_jobs.jobs_heartbeat(ids, "gen") as hb:
        assert threading.active_count() == before + 1
        ImageJob.objects.filter(pk=ids[0]).update(claimed_by="other", lease_expires_at=timezone.now())
        time.sleep(2.2)  # two leases: only the heartbeat keeps the other two
        rows = {j.pk: j for j in ImageJob.objects.filter(pk__in=ids)}
        assert rows[ids[0]].claimed_by == "other" and rows[ids[0]].lease_expires_at < timezone.now()
        assert all(rows[pk].lease_expires_at > timezone.now() for pk in ids[1:]) and not hb.lost.is_set()
        ImageJob.objects.filter(pk__in=ids[1:]).update(state=S.DONE, claimed_by="")
        assert hb.lost.wait(3)


def test_training_and_reindex_runs_are_claimed_once_and_taken_over_after_a_lapse():
    from marketplace.jobs.models import ReindexRun, TrainingRun

    run = TrainingRun.objects.create(parameters={})
    assert runs.training_run_claim(run.pk, "a") is not None
    assert runs.training_run_claim(run.pk, "b") is None
    TrainingRun.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    taken = runs.training_run_claim(run.pk, "b")
    assert taken is not None and taken.claimed_by == "b" and taken.attempts == 2
    assert not runs.training_run_heartbeat(run.pk, "a", step=1, total_steps=2, losses={})

    reindex = ReindexRun.objects.create()
    assert runs.reindex_claim(reindex.pk, "a") and not runs.reindex_claim(reindex.pk, "b")
    assert ReindexRun.objects.get(pk=reindex.pk).lease_expires_at > timezone.now()
    assert runs.reindex_renew() == 1


def test_cancel_is_a_service(job):
    from marketplace.jobs.models import TrainingRun

    run = TrainingRun.objects.create(parameters={})
    run = runs.training_run_cancel(run)
    assert run.state == "cancelled" and run.cancel_requested and run.finished_at


def test_with_separate_preprocessing_a_paused_cpu_queue_holds_pending_jobs_and_gpu_does_not(job, settings,
                                                                                              monkeypatch):
    """PREPROCESS_SEPARATE: a pending job waits for the cpu queue, so pausing cpu holds it and pausing gpu does not."""
    from marketplace.jobs.models import QueuePause

    settings.PREPROCESS_SEPARATE = True
    published = []
    monkeypatch.setattr(photo_jobs, "job_publish", lambda pk: published.append(pk) or True)
    ImageJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    QueuePause.objects.create(queue=settings.QUEUE_CPU, paused=True)
    assert sweeper.jobs_sweep()["image_jobs"] == 0 and published == []
    QueuePause.objects.filter(queue=settings.QUEUE_CPU).update(paused=False)
    QueuePause.objects.create(queue=settings.QUEUE_GPU, paused=True)
    assert sweeper.jobs_sweep()["image_jobs"] == 1 and published == [job.pk]


STAGES = [S.PENDING, S.PREPROCESSING, S.GENERATING]


@pytest.mark.parametrize("situation, taken", [
    ("pending", True),
    ("held by another live delivery", False),
    ("held by this very delivery (a redelivery)", True),
    ("held by another whose lease lapsed", True),
    ("moved on to searching", False),
    ("done", False),
])
def test_take_reads_the_claim_rule_on_this_database(job, situation, taken):
    """job_take's first read (plain SQL, lease compared by the database) agrees with the ORM's claim rule; this
    module also runs on PostgreSQL (tests/integration/test_production_peers.py)."""
    later = timezone.now() + timedelta(seconds=60)
    rows = {
        "pending": {},
        "held by another live delivery": dict(state=S.GENERATING, claimed_by="other", lease_expires_at=later),
        "held by this very delivery (a redelivery)": dict(state=S.GENERATING, claimed_by="me", lease_expires_at=later),
        "held by another whose lease lapsed": dict(state=S.GENERATING, claimed_by="other",
                                                   lease_expires_at=timezone.now() - timedelta(milliseconds=5)),
        "moved on to searching": dict(state=S.SEARCHING, claimed_by=""),
        "done": dict(state=S.DONE),
    }[situation]
    ImageJob.objects.filter(pk=job.pk).update(**rows)
    got = photo_jobs.job_take(job.pk, "me", STAGES, S.GENERATING)
    assert (got is not None) == taken
    row = ImageJob.objects.get(pk=job.pk)
    if taken:
        assert (row.state, row.claimed_by, row.attempts) == (S.GENERATING, "me", 1)
        assert got.listing_photo.pk == job.listing_photo_id and row.lease_expires_at > timezone.now()
    else:
        assert row.claimed_by == rows.get("claimed_by", "") and row.attempts == 0


def test_take_of_a_job_that_is_not_there(job):
    assert photo_jobs.job_take(job.pk + 1000, "me", STAGES, S.GENERATING) is None
