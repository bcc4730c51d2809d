"""The batch collector (workers.stages.generate.collect) against the real database and a real valkey broker: a photo alone
waits at most GPU_BATCH_WAIT_MS for company, and not at all by default; a full batch never waits; with no message
waiting on the gpu queue a first delivery does not look for company, a redelivered leader always does."""
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from marketplace.jobs.models import ImageJob
from marketplace.listings.models import Listing, ListingPhoto
from tests.conftest import image_bytes
from workers.stages.generate import collect

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker(tmp_path, settings):
    """A valkey server of its own; the gpu queue's list is what `queue.waiting` counts."""
    from marketplace.jobs.queue import broker_redis
    from devtools.processes import free_port, start_valkey

    port = free_port()
    svc = start_valkey(port, tmp_path / "valkey", tmp_path / "logs")
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    yield broker_redis()
    svc.stop()


def waiting(n: int, broker=None) -> list[ImageJob]:
    """n photo jobs waiting for the generate stage and, as their uploads publish them, n messages on the gpu queue
    (the leader's own message has been delivered: n - 1 remain)."""
    user, _ = get_user_model().objects.get_or_create(username="seller")
    listing = Listing.objects.create(seller=user, title="t")
    jobs = [ImageJob.objects.create(kind="listing_photo", owner=user, listing_photo=ListingPhoto.objects.create(
        listing=listing, image=ContentFile(image_bytes(), name="p.jpg"))) for _ in range(n)]
    if broker is not None:
        for _ in range(n - 1):
            broker.lpush("gpu", b"a message")
    return jobs


def timed(leader: ImageJob):
    t0 = time.perf_counter()
    taken = collect(leader, "batch")
    return taken, time.perf_counter() - t0


def test_by_default_a_batch_is_only_what_is_already_waiting(media_root, settings, broker):
    settings.GPU_BATCH_MAX, settings.GPU_BATCH_WAIT_MS = 8, 0
    jobs = waiting(3, broker)
    taken, took = timed(jobs[0])
    assert [j.pk for j in taken] == [j.pk for j in jobs[1:]] and took < 0.5


def test_a_lone_photo_waits_at_most_the_cap_and_a_full_batch_not_at_all(media_root, settings):
    settings.GPU_BATCH_MAX, settings.GPU_BATCH_WAIT_MS = 4, 300
    alone = waiting(1)
    taken, took = timed(alone[0])
    assert taken == [] and 0.3 <= took < 1.5
    full = waiting(4)
    taken, took = timed(full[0])
    assert len(taken) == 3 and took < 0.3


def test_batch_size_one_collects_nothing(media_root, settings):
    settings.GPU_BATCH_MAX, settings.GPU_BATCH_WAIT_MS = 1, 300
    jobs = waiting(2)
    taken, took = timed(jobs[0])
    assert taken == [] and took < 0.3


def test_a_first_delivery_with_no_message_waiting_does_not_look_and_a_redelivery_does(media_root, settings, broker,
                                                                                     django_assert_num_queries):
    """Rows can wait without a message (their publish failed; the sweeper will send one): a lone photo's first
    delivery leaves them to it rather than pay the query, a redelivered leader takes its crashed batch back."""
    settings.GPU_BATCH_MAX, settings.GPU_BATCH_WAIT_MS = 8, 0
    jobs = waiting(3)  # no messages
    assert broker.llen("gpu") == 0
    with django_assert_num_queries(0):
        assert collect(jobs[0], "batch") == []
    jobs[0].attempts = 2  # the broker delivered the leader again after its worker died
    assert [j.pk for j in collect(jobs[0], "batch")] == [j.pk for j in jobs[1:]]
