"""The batch collector's latency cap (workers.batching.collect): a photo alone waits at most GPU_BATCH_WAIT_MS for
company, and not at all by default; a full batch never waits."""
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from marketplace.jobs.models import ImageJob
from marketplace.listings.models import Listing, ListingPhoto
from tests.conftest import image_bytes
from workers.batching import collect

pytestmark = pytest.mark.django_db


def waiting(n: int) -> list[ImageJob]:
    user, _ = get_user_model().objects.get_or_create(username="seller")
    listing = Listing.objects.create(seller=user, title="t")
    return [ImageJob.objects.create(kind="listing_photo", owner=user, listing_photo=ListingPhoto.objects.create(
        listing=listing, image=ContentFile(image_bytes(), name="p.jpg"))) for _ in range(n)]


def timed(leader_id: int):
    t0 = time.perf_counter()
    taken = collect(leader_id, "batch")
    return taken, time.perf_counter() - t0


def test_by_default_a_batch_is_only_what_is_already_waiting(media_root, settings):
    settings.GPU_BATCH_MAX, settings.GPU_BATCH_WAIT_MS = 8, 0
    jobs = waiting(3)
    taken, took = timed(jobs[0].pk)
    assert [j.pk for j in taken] == [j.pk for j in jobs[1:]] and took < 0.5


def test_a_lone_photo_waits_at_most_the_cap_and_a_full_batch_not_at_all(media_root, settings):
    settings.GPU_BATCH_MAX, settings.GPU_BATCH_WAIT_MS = 4, 300
    alone = waiting(1)
    taken, took = timed(alone[0].pk)
    assert taken == [] and 0.3 <= took < 1.5
    full = waiting(4)
    taken, took = timed(full[0].pk)
    assert len(taken) == 3 and took < 0.3


def test_batch_size_one_collects_nothing(media_root, settings):
    settings.GPU_BATCH_MAX, settings.GPU_BATCH_WAIT_MS = 1, 300
    jobs = waiting(2)
    taken, took = timed(jobs[0].pk)
    assert taken == [] and took < 0.3
