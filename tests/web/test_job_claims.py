"""The job claim rules that make redelivery safe (marketplace.jobs.services), against the real database."""
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from marketplace.catalogue.models import Item, StockImage
from marketplace.jobs import services
from marketplace.jobs.models import ImageJob
from marketplace.jobs.services import SearchHit
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
    assert services.job_claim(job.pk, "task-a", [S.PENDING], S.PREPROCESSING, True) is not None
    assert services.job_claim(job.pk, "task-b", [S.PENDING, S.PREPROCESSING], S.PREPROCESSING, True) is None
    assert ImageJob.objects.get(pk=job.pk).claimed_by == "task-a"


def test_redelivery_of_the_same_task_reclaims_at_once(job):
    services.job_claim(job.pk, "task-a", [S.PENDING], S.PREPROCESSING, True)
    again = services.job_claim(job.pk, "task-a", [S.PENDING, S.PREPROCESSING], S.PREPROCESSING, True)
    assert again is not None and again.attempts == 2


def test_another_delivery_takes_over_only_after_the_lease_lapses(job):
    services.job_claim(job.pk, "task-a", [S.PENDING], S.PREPROCESSING, True)
    ImageJob.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    taken = services.job_claim(job.pk, "task-b", [S.PREPROCESSING], S.PREPROCESSING, True)
    assert taken is not None and taken.claimed_by == "task-b"
    with pytest.raises(services.ClaimLost):
        services.job_advance(job.pk, "task-a", S.GENERATING)


def test_a_job_lost_too_often_fails_with_a_reason(job, settings):
    settings.JOB_MAX_ATTEMPTS = 2
    for _ in range(2):
        assert services.job_claim(job.pk, "t", [S.PENDING, S.PREPROCESSING], S.PREPROCESSING, True) is not None
    assert services.job_claim(job.pk, "t", [S.PREPROCESSING], S.PREPROCESSING, True) is None
    job.refresh_from_db()
    assert job.state == S.FAILED and "gave up after 2 attempts" in job.error


def test_completing_twice_writes_results_once(job, stock):
    services.job_claim(job.pk, "gen", [S.PENDING], S.PREPROCESSING, True)
    services.job_hand_to_search(job.pk, "gen")
    services.job_claim(job.pk, "search", [S.SEARCHING], S.SEARCHING, False)
    hits = [SearchHit(s.pk, s.item_id, 0.9 - i / 10) for i, s in enumerate(stock)] + [SearchHit(stock[0].pk, stock[0].item_id, 0.1)]
    assert services.job_complete(job.pk, "search", hits, {"search": 1.0})
    assert not services.job_complete(job.pk, "search", hits, {"search": 1.0})  # done: nothing more is written
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
    assert services.jobs_sweep()["pending"] == 0  # tried, and could not publish
    assert ImageJob.objects.get(pk=job.pk).published_at is None
    queue._app = None
