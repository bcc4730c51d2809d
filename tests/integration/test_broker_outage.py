"""The broker is down when a photo is uploaded: the upload is still accepted, the job waits in the database, and
the sweeper (celery beat in the index worker, every 30 s) publishes it once valkey-server is back. Nothing is lost."""
import pytest

from marketplace.jobs.models import ImageJob
from tests.integration.helpers import client_for, seed_and_reindex, upload_listing_photo, wait_job
from devtools.processes import start_valkey

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def stack(stack_factory):
    return stack_factory()


def test_upload_during_a_broker_outage_is_kept_and_completes_once_the_broker_returns(stack, broker_settings):
    broker_settings(stack.redis_url)
    seed_and_reindex()
    valkey = stack.worker("valkey")
    port = int(stack.redis_url.rsplit(":", 1)[1].split("/")[0])
    valkey.stop()

    seller = client_for("frank")
    listing, accepted = upload_listing_photo(seller)  # still 202: the row is the record, not the broker
    job = ImageJob.objects.get(pk=accepted["job"]["id"])
    assert job.state == "pending" and job.published_at is None

    stack.stack.services.insert(0, start_valkey(port, stack.stack.var_dir / "valkey", stack.stack.log_dir))
    job = wait_job(job.pk, timeout=150)
    assert job.state == "done", job.error
    assert job.attempts == 1 and job.published_at is not None
    assert seller.get(f"/api/listings/{listing['id']}/suggestions/").json()
