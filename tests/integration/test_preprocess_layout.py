"""Preprocessing in its own CPU worker (PREPROCESS_SEPARATE): the layout for a GPU machine, where several CPU
processes run mediapipe and feed one batched generator worker. The default layout (one worker does both) is what
every other integration test runs; this one runs the other, on real workers, Valkey and milvus-lite."""
import pytest

from marketplace.jobs import hops
from marketplace.jobs.models import GeneratedImage
from marketplace.listings.models import Suggestion
from tests.integration.helpers import client_for, seed_and_reindex, upload_listing_photo, wait_job

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def stack(stack_factory):
    return stack_factory({"PREPROCESS_SEPARATE": "1", "GPU_BATCH_MAX": "8"})  # the stack adds one cpu worker


def test_separate_preprocessing_workers_feed_the_generator_and_jobs_finish(stack, broker_settings, settings):
    broker_settings(stack.redis_url)
    settings.PREPROCESS_SEPARATE = True  # this process publishes the uploads' first task: to the cpu queue
    assert stack.worker("cpu1").alive()
    seed_and_reindex()
    seller = client_for("split-seller")
    accepted = [upload_listing_photo(seller, item_index=i)[1] for i in range(3)]
    jobs = [wait_job(a["job"]["id"]) for a in accepted]
    for job in jobs:
        assert job.state == "done", job.error
        assert job.preprocessed_input, "the cpu stage stored what the networks saw"
        assert hops.PREPROCESSED in job.marks and hops.CPU_CLAIMED in job.marks
        assert set(job.timings) >= {"decode", "preprocess", "stage1", "stage2", "embed", "search"}
        assert job.attempts == 2  # one claim per stage that counts attempts: preprocess, generate
        assert GeneratedImage.objects.filter(job=job).count() == 1
        assert Suggestion.objects.filter(photo=job.listing_photo).count() == settings.SUGGESTIONS_PER_PHOTO
    assert "preprocess" in stack.worker("cpu1").log_tail(200)
