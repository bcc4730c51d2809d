"""Two model workers claiming jobs side by side: every upload's job is done exactly once, none is lost.

Production scales the gpu queue to several workers (docker-compose.yml); the only thing between them is the job
row's conditional claim (marketplace.jobs.lifecycle). Runs on the embedded default and, in the production-peers pass
(test_production_peers.py), on PostgreSQL + Redis."""
import io

import pytest
from django.conf import settings
from django.db.models import Count

from marketplace.jobs.models import GeneratedImage, ImageJob
from marketplace.listings.models import Suggestion
from tests.conftest import wait_until
from tests.integration.helpers import CATALOGUE_ITEMS, client_for, seed_and_reindex
from devtools.catalogue_seed import street_photo

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

UPLOADS = 10


@pytest.fixture(scope="module")
def stack(stack_factory):
    return stack_factory(gpu_workers=2)


def test_two_model_workers_finish_every_job_exactly_once(stack, broker_settings):
    broker_settings(stack.redis_url)
    seed_and_reindex()
    seller = client_for("erin")
    job_ids, photo_ids = [], []
    for n in range(UPLOADS):
        listing = seller.post("/api/listings/", {"title": f"top {n}", "garment_type": "top"}, format="json").json()
        data, _ = street_photo(n % CATALOGUE_ITEMS, seed=0, photo_seed=2000 + n)
        f = io.BytesIO(data)
        f.name = "street.jpg"
        r = seller.post(f"/api/listings/{listing['id']}/photos/", {"image": f}, format="multipart")
        assert r.status_code == 202, r.content
        job_ids.append(r.json()["job"]["id"])
        photo_ids.append(r.json()["id"])

    wait_until(lambda: ImageJob.objects.filter(pk__in=job_ids, state__in=["done", "failed"]).count() == UPLOADS,
               240, 0.2, f"{UPLOADS} jobs on two workers")
    jobs = list(ImageJob.objects.filter(pk__in=job_ids))
    assert [(j.pk, j.state, j.error) for j in jobs if j.state != "done"] == []  # 0 lost, 0 failed
    assert [(j.pk, j.attempts) for j in jobs if j.attempts != 1] == []  # each claimed once: no second run
    assert ImageJob.objects.count() == UPLOADS  # no job made twice
    assert GeneratedImage.objects.filter(job_id__in=job_ids).count() == UPLOADS
    per_photo = dict(Suggestion.objects.filter(photo_id__in=photo_ids).values_list("photo_id")
                     .annotate(n=Count("pk")).values_list("photo_id", "n"))
    expected = min(settings.SUGGESTIONS_PER_PHOTO, CATALOGUE_ITEMS)
    assert per_photo == {pk: expected for pk in photo_ids}  # one set of suggestions per photo
    assert not (Suggestion.objects.filter(photo_id__in=photo_ids).values("photo_id", "stock_image_id")
                .annotate(n=Count("pk")).filter(n__gt=1).exists())

    # Both were there to compete the whole time. (Which one ran how many is not asserted: a worker that batches
    # photo jobs, workers/stages/, may legitimately take all of them.)
    workers = stack.gpu_workers()
    assert [w.name for w in workers] == ["gpu", "gpu2"] and all(w.alive() for w in workers)
