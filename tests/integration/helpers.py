"""Driving the real stack from a test: seed + re-index the catalogue, upload through the API, wait for jobs."""
import io

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from marketplace.accounts.roles import role_assign
from marketplace.jobs.models import ImageJob, ReindexRun
from tests.conftest import wait_until
from devtools.catalogue_seed import seed_catalogue, street_photo

CATALOGUE_ITEMS = 12


def client_for(username: str, staff: bool = False, role: str | None = "seller") -> APIClient:
    """An API client signed in as `username`, a seller unless told otherwise (most tests list garments)."""
    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": staff})
    if role:
        role_assign(user, role)
    c = APIClient()
    c.force_authenticate(user)
    return c


def seed_and_reindex(items: int = CATALOGUE_ITEMS) -> list:
    """Seed the catalogue, then rebuild the index through the staff API (which also drops vectors of rows that an
    earlier test's database flush removed)."""
    created = seed_catalogue(items, seed=0)
    staff = client_for("ops", staff=True)
    r = staff.post("/api/admin/reindex-runs/")
    assert r.status_code == 202, r.content
    run_id = r.json()["id"]
    wait_until(lambda: ReindexRun.objects.get(pk=run_id).state in ("done", "failed"), 120, what="re-index")
    run = ReindexRun.objects.get(pk=run_id)
    assert run.state == "done", run.error
    assert run.done == run.total == items
    return created


def upload_listing_photo(seller: APIClient, item_index: int = 3):
    listing = seller.post("/api/listings/", {"title": "My top", "garment_type": "top"}, format="json").json()
    data, _ = street_photo(item_index, seed=0)
    f = io.BytesIO(data)
    f.name = "street.jpg"
    r = seller.post(f"/api/listings/{listing['id']}/photos/", {"image": f}, format="multipart")
    assert r.status_code == 202, r.content
    return listing, r.json()


def wait_job(job_id: int, timeout: float = 120) -> ImageJob:
    wait_until(lambda: ImageJob.objects.get(pk=job_id).state in ("done", "failed"), timeout, what=f"job {job_id}")
    return ImageJob.objects.get(pk=job_id)
