"""Private media on the real stack: after one real seller job and one real buyer search (real workers, Valkey,
milvus-lite), every photo and generated-image URL the API returns opens for its owner and staff and is 404 for
another user and for an anonymous client; the catalogue images it suggests stay public."""
import io
import re

import pytest
from rest_framework.test import APIClient

from tests.integration.helpers import client_for, seed_and_reindex, upload_listing_photo, wait_job
from devtools.catalogue_seed import street_photo

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PRIVATE_URL = re.compile(r"/media/(listing-photos|search-photos|generated)/\d{4}/\d{2}/[0-9a-f]{32}\.(jpg|png)$")


@pytest.fixture(scope="module")
def stack(stack_factory):
    return stack_factory()


@pytest.fixture
def live(stack, broker_settings):
    broker_settings(stack.redis_url)
    return stack


def private_urls(body: dict) -> list[str]:
    """The photo URL and the job's three generated-image URLs of a listing photo or a search."""
    job = body["job"]
    return [body["image"], job["generated_image"], job["stage1_image"], job["preprocessed_image"]]


def fetch(client: APIClient, url: str):
    r = client.get(re.sub(r"^https?://[^/]+", "", url))
    if r.status_code == 200:
        r.body = b"".join(r.streaming_content)
    return r


def test_every_photo_and_generated_image_the_api_returns_is_private_to_its_owner(live):
    seed_and_reindex()
    seller, buyer = client_for("sela"), client_for("bea", role="buyer")
    staff, other, anonymous = client_for("ops", staff=True), client_for("mallory"), APIClient()

    listing, accepted = upload_listing_photo(seller)
    data, _ = street_photo(5, seed=0)
    f = io.BytesIO(data)
    f.name = "look.jpg"
    search = buyer.post("/api/searches/", {"image": f, "garment_type": "top"}, format="multipart")
    assert search.status_code == 202, search.content
    for job_id in (accepted["job"]["id"], search.json()["job"]["id"]):
        job = wait_job(job_id)
        assert job.state == "done", job.error

    photo = seller.get(f"/api/listings/{listing['id']}/").json()["photos"][0]
    query = buyer.get(f"/api/searches/{search.json()['id']}/").json()
    checked = 0
    for owner, body in ((seller, photo), (buyer, query)):
        urls = private_urls(body)
        job = owner.get(f"/api/jobs/{body['job']['id']}/").json()
        assert urls[1:] == [job["generated_image"], job["stage1_image"], job["preprocessed_image"]]
        for url in urls:
            assert url and PRIVATE_URL.search(url), url  # random names, not job ids or client names
            for who in (owner, staff):
                r = fetch(who, url)
                assert r.status_code == 200 and r["Content-Type"] in ("image/jpeg", "image/png"), (url, r.status_code)
                assert r["X-Content-Type-Options"] == "nosniff"
                assert r.body.startswith(b"\x89PNG" if r["Content-Type"] == "image/png" else b"\xff\xd8\xff")
            for who in (other, anonymous):
                assert fetch(who, url).status_code == 404, url
            checked += 1
    assert checked == 8

    suggestions = seller.get(f"/api/listings/{listing['id']}/suggestions/").json()
    assert suggestions
    for s in suggestions:
        assert fetch(anonymous, s["stock_image"]["image"]).status_code == 200  # the catalogue stays public
