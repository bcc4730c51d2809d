"""Micro-batching in the generate stage (workers.stages.generate), on real workers, Valkey and milvus-lite.

The jobs of a batch are made deterministic without timing tricks: their rows are created without publishing, and
only the first job's task is published; its delivery collects the others (waiting rows, taken by the database
claim) and runs them as one batch. GPU_BATCH_WAIT_MS is set, so that delivery looks for company although no message
waits on the gpu queue (by default it looks only when one does: tests/workers/test_batch_collect.py). The gpu worker
sleeps a few seconds inside the stage (PIPELINE_FAULT_DELAY_S), after every job of the batch is `generating`, so the
crash test's kill lands mid-batch."""
import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from marketplace.jobs import hops, photo_jobs
from marketplace.jobs.models import GeneratedImage, ImageJob
from marketplace.listings.models import Listing, ListingPhoto, Suggestion
from tests.conftest import wait_until
from tests.integration.helpers import seed_and_reindex, wait_job
from devtools.catalogue_seed import street_photo
from devtools.stack import start_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def stack(stack_factory):
    return stack_factory({"PIPELINE_FAULT_DELAY_S": "3", "GPU_BATCH_MAX": "8", "GPU_BATCH_WAIT_MS": "200"})


@pytest.fixture
def live(stack, broker_settings):
    broker_settings(stack.redis_url)
    seed_and_reindex()
    return stack


def waiting_jobs(n: int, username: str) -> list[int]:
    """`n` listing-photo jobs whose tasks were never published: only a batch collector can find them."""
    user, _ = get_user_model().objects.get_or_create(username=username)
    ids = []
    for i in range(n):
        listing = Listing.objects.create(seller=user, title=f"batch {i}", garment_type="top")
        data, _ = street_photo(i % 12, seed=0, photo_seed=7000 + i)
        photo = ListingPhoto.objects.create(listing=listing, image=ContentFile(data, name="street.jpg"))
        ids.append(ImageJob.objects.create(kind="listing_photo", owner=user, listing_photo=photo).pk)
    return ids


def test_one_delivery_completes_several_waiting_jobs_as_one_batch(live, settings):
    ids = waiting_jobs(4, "batcher")
    assert photo_jobs.job_publish(ids[0])
    jobs = [wait_job(pk, 120) for pk in ids]
    assert [j.state for j in jobs] == ["done"] * 4, [j.error for j in jobs]
    assert {j.marks[hops.BATCH_SIZE] for j in jobs} == {4}
    assert len({j.marks[hops.STARTED] for j in jobs}) == 1  # one batch, started once
    assert all(j.attempts == 1 for j in jobs)
    for j in jobs:
        assert GeneratedImage.objects.filter(job=j).count() == 1
        assert Suggestion.objects.filter(photo=j.listing_photo).count() == settings.SUGGESTIONS_PER_PHOTO
        assert set(j.timings) >= {"decode", "preprocess", "stage1", "stage2", "embed", "search"}
    # The batch's compute is shared: each job records its part of one forward pass, not a whole one.
    assert len({(j.timings["stage1"], j.timings["stage2"]) for j in jobs}) == 1


def test_a_bad_photo_in_a_batch_fails_alone(live):
    ids = waiting_jobs(3, "batcher-bad")
    bad = ImageJob.objects.get(pk=ids[1]).listing_photo
    with open(bad.image.path, "wb") as fh:  # the disk lost the photo behind the job's back
        fh.write(b"garbage")
    assert photo_jobs.job_publish(ids[0])
    jobs = {pk: wait_job(pk, 120) for pk in ids}
    assert jobs[ids[1]].state == "failed" and "could not be read" in jobs[ids[1]].error
    for pk in (ids[0], ids[2]):
        assert jobs[pk].state == "done", jobs[pk].error
        assert jobs[pk].marks[hops.BATCH_SIZE] == 3


def test_a_crash_mid_batch_completes_each_job_exactly_once(live, settings):
    ids = waiting_jobs(3, "batcher-crash")
    assert photo_jobs.job_publish(ids[0])
    wait_until(lambda: ImageJob.objects.filter(pk__in=ids, state="generating").count() == 3, 90, 0.05,
               "the whole batch to be mid-stage")

    stack = live.stack
    stack.service("gpu").kill()  # SIGKILL of the whole worker, parent and child, mid-batch
    assert ImageJob.objects.filter(pk__in=ids, state="generating").count() == 3
    stack.services.append(start_worker("gpu", "gpu", stack.env(), stack.log_dir))

    jobs = [wait_job(pk, 150) for pk in ids]
    assert [j.state for j in jobs] == ["done"] * 3, [j.error for j in jobs]
    for j in jobs:
        assert j.attempts == 2  # the killed batch and the recovery
        assert GeneratedImage.objects.filter(job=j).count() == 1
        rows = list(Suggestion.objects.filter(photo=j.listing_photo).values_list("stock_image", flat=True))
        assert len(rows) == len(set(rows)) == settings.SUGGESTIONS_PER_PHOTO
