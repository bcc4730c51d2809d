"""The claims behind micro-batching (marketplace.jobs.photo_jobs.jobs_claim_batch, jobs_hand_on) and the publish mark
written with the row, against the real database."""
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from marketplace.jobs import photo_jobs
from marketplace.jobs.models import ImageJob
from marketplace.listings.models import Listing, ListingPhoto
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db
S = ImageJob.State


@pytest.fixture
def jobs(media_root):
    user = get_user_model().objects.create(username="seller")
    listing = Listing.objects.create(seller=user, title="t")
    out = []
    for _ in range(5):
        photo = ListingPhoto.objects.create(listing=listing, image=ContentFile(image_bytes(), name="p.jpg"))
        out.append(ImageJob.objects.create(kind="listing_photo", owner=user, listing_photo=photo))
    return out


def test_a_batch_takes_waiting_jobs_oldest_first_up_to_its_limit_and_counts_an_attempt_each(jobs):
    leader = jobs[0]
    assert photo_jobs.job_claim(leader.pk, "batch", [S.PENDING], S.PREPROCESSING, True)
    taken = photo_jobs.jobs_claim_batch("batch", [leader.pk], 3, preprocessed=False)
    assert [j.pk for j in taken] == [j.pk for j in jobs[1:4]]
    for j in ImageJob.objects.filter(pk__in=[j.pk for j in taken]):
        assert j.claimed_by == "batch" and j.state == S.GENERATING and j.attempts == 1 and j.lease_expires_at


def test_a_batch_leaves_jobs_another_live_delivery_holds_and_takes_those_whose_lease_lapsed(jobs):
    future, past = timezone.now() + timedelta(seconds=30), timezone.now() - timedelta(seconds=1)
    ImageJob.objects.filter(pk=jobs[1].pk).update(state=S.GENERATING, claimed_by="other", lease_expires_at=future)
    ImageJob.objects.filter(pk=jobs[2].pk).update(state=S.GENERATING, claimed_by="dead", lease_expires_at=past)
    ImageJob.objects.filter(pk=jobs[3].pk).update(state=S.SEARCHING)
    taken = {j.pk for j in photo_jobs.jobs_claim_batch("batch", [jobs[0].pk], 10, preprocessed=False)}
    assert taken == {jobs[2].pk, jobs[4].pk}
    assert ImageJob.objects.get(pk=jobs[1].pk).claimed_by == "other"


def test_the_redelivered_leader_of_a_crashed_batch_takes_its_jobs_back_at_once(jobs):
    photo_jobs.jobs_claim_batch("batch", [jobs[0].pk], 2, preprocessed=False)  # then the worker dies
    again = photo_jobs.jobs_claim_batch("batch", [jobs[0].pk], 10, preprocessed=False)
    assert [j.pk for j in again][:2] == [jobs[1].pk, jobs[2].pk]  # same token: no wait for the lease
    assert ImageJob.objects.get(pk=jobs[1].pk).attempts == 2


def test_the_separate_layout_batches_only_preprocessed_jobs(jobs):
    ImageJob.objects.filter(pk=jobs[1].pk).update(state=S.GENERATING, preprocessed_input="pipeline/x.png")
    taken = photo_jobs.jobs_claim_batch("batch", [jobs[0].pk], 10, preprocessed=True)
    assert [j.pk for j in taken] == [jobs[1].pk]
    assert ImageJob.objects.get(pk=jobs[1].pk).state == S.GENERATING


def test_a_batch_hands_on_in_one_transaction_and_skips_a_job_it_lost(jobs):
    ids = [j.pk for j in jobs[:3]]
    for pk in ids:
        photo_jobs.job_claim(pk, "batch", [S.PENDING], S.PREPROCESSING, True)
    ImageJob.objects.filter(pk=ids[1]).update(claimed_by="thief")
    handed = photo_jobs.jobs_hand_on("batch", {pk: {"timings": {"stage1": 1.0}} for pk in ids}, S.SEARCHING)
    assert handed == [ids[0], ids[2]]
    for pk in (ids[0], ids[2]):
        job = ImageJob.objects.get(pk=pk)
        assert job.state == S.SEARCHING and job.claimed_by == "" and job.published_at is not None
    assert ImageJob.objects.get(pk=ids[1]).state == S.PREPROCESSING


def test_an_upload_marks_its_publish_with_the_row_and_a_failed_send_clears_the_mark(jobs, settings,
                                                                                   django_capture_on_commit_callbacks):
    """No separate write of the publish time races the worker's claim; the broker is unreachable here (nothing
    listens on port 1), so the mark is cleared and the sweeper will publish the job."""
    from marketplace.jobs import queue

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    queue._app = None
    photo = ListingPhoto.objects.create(listing=jobs[0].listing_photo.listing,
                                        image=ContentFile(image_bytes(), name="p.jpg"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = photo_jobs.job_create(owner_id=jobs[0].owner_id, garment_type="top", listing_photo=photo)
    assert ImageJob.objects.get(pk=job.pk).published_at is not None  # written with the row, before the send
    for send in callbacks:  # the commit: the send fails
        send()
    assert ImageJob.objects.get(pk=job.pk).published_at is None
    queue._app = None
