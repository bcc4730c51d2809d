"""A worker killed mid-job: the job completes exactly once after a new worker starts.

The gpu worker here sleeps a few seconds inside the generate stage (PIPELINE_FAULT_DELAY_S), so the kill lands
mid-job. The broker's visibility timeout is 15 s in tests (an hour by default; shared/FACTS.md)."""
import pytest

from marketplace.jobs.models import GeneratedImage, ImageJob
from marketplace.listings.models import Suggestion
from tests.conftest import wait_until
from tests.integration.helpers import client_for, seed_and_reindex, upload_listing_photo, wait_job
from devtools.stack import start_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def stack(stack_factory):
    return stack_factory({"PIPELINE_FAULT_DELAY_S": "4"})


def test_whole_worker_killed_mid_job_then_restarted_completes_job_exactly_once(stack, broker_settings, settings):
    broker_settings(stack.redis_url)
    seed_and_reindex()
    seller = client_for("dave")
    listing, accepted = upload_listing_photo(seller)
    job_id = accepted["job"]["id"]
    wait_until(lambda: ImageJob.objects.get(pk=job_id).state == "generating", 90, 0.05, "the job to be mid-stage")

    for gpu in stack.gpu_workers():  # on the production peers two run side by side: whichever holds the job dies
        gpu.kill()  # SIGKILL of the whole worker: parent and child
    assert ImageJob.objects.get(pk=job_id).state == "generating"

    replacement = start_worker("gpu", "gpu", stack.stack.env(), stack.stack.log_dir)
    stack.stack.services.append(replacement)
    job = wait_job(job_id, timeout=150)
    assert job.state == "done", job.error
    assert job.attempts == 2  # the killed delivery and the redelivery
    assert GeneratedImage.objects.filter(job_id=job_id).count() == 1
    rows = list(Suggestion.objects.filter(photo__listing_id=listing["id"]).values_list("rank", "stock_image"))
    assert len(rows) == settings.SUGGESTIONS_PER_PHOTO
    assert len({r[1] for r in rows}) == len(rows)
