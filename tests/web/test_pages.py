"""The server-rendered pages call the same services as the API: a seller creates a listing and uploads a photo,
a bad photo is refused with its reason, and nobody sees another seller's listing."""
import io

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from marketplace.accounts.roles import role_assign
from marketplace.jobs.models import ImageJob
from marketplace.listings.models import Listing
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def seller(media_root):
    c = Client()
    user = get_user_model().objects.create_user("sam", password="pw-123456")
    role_assign(user, "seller")
    c.force_login(user)
    return c


def test_pages_require_login():
    r = Client().get("/listings/")
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]


def test_seller_creates_listing_and_uploads_a_photo(seller):
    r = seller.post("/listings/", {"title": "Blue hoodie", "garment_type": "top"})
    listing = Listing.objects.get(title="Blue hoodie")
    assert r.status_code == 302 and r["Location"].endswith(f"/listings/{listing.pk}/")
    f = io.BytesIO(image_bytes())
    f.name = "p.jpg"
    r = seller.post(f"/listings/{listing.pk}/", {"image": f}, follow=True)
    assert "being made" in r.content.decode()
    assert ImageJob.objects.filter(listing_photo__listing=listing).count() == 1
    page = seller.get(f"/listings/{listing.pk}/").content.decode()
    # No self-refresh (it wiped a chosen file): the page's script polls the job's progress endpoint instead.
    assert 'http-equiv="refresh"' not in page
    job = ImageJob.objects.get(listing_photo__listing=listing)
    assert f'data-progress-url="/jobs/{job.pk}/progress/"' in page and 'aria-live="polite"' in page
    assert "Waiting in the queue" in page
    progress = seller.get(f"/jobs/{job.pk}/progress/").json()
    assert progress["state"] == "pending" and progress["finished"] is False
    assert [s["name"] for s in progress["stages"]] == ["preprocessing", "generating", "searching"]
    assert "Waiting in the queue" in progress["status_html"] and "Your photo" in progress["body_html"]


def test_bad_photo_is_refused_on_the_page_with_its_reason(seller):
    listing = Listing.objects.create(seller=get_user_model().objects.get(username="sam"), title="x")
    f = io.BytesIO(b"not an image")
    f.name = "p.jpg"
    r = seller.post(f"/listings/{listing.pk}/", {"image": f}, follow=True)
    assert "upload refused" in r.content.decode() and ImageJob.objects.count() == 0


def test_other_sellers_listing_page_is_404(seller):
    other = get_user_model().objects.create_user("olga")
    listing = Listing.objects.create(seller=other, title="hers")
    assert seller.get(f"/listings/{listing.pk}/").status_code == 404


def test_job_progress_is_for_its_owner_only(seller, media_root):
    listing = Listing.objects.create(seller=get_user_model().objects.get(username="sam"), title="x")
    f = io.BytesIO(image_bytes())
    f.name = "p.jpg"
    seller.post(f"/listings/{listing.pk}/", {"image": f})
    job = ImageJob.objects.get()
    other = Client()
    other.force_login(get_user_model().objects.create_user("olga"))
    assert other.get(f"/jobs/{job.pk}/progress/").status_code == 404
    assert Client().get(f"/jobs/{job.pk}/progress/").status_code == 401


def test_item_page_is_public_with_currency_and_without_the_internal_sku(settings):
    from marketplace.catalogue.models import Item

    settings.MARKETPLACE_CURRENCY = "EUR"
    shop = get_user_model().objects.create_user("shop")
    item = Item.objects.create(title="Red striped tee [synth-0-4]", price="23.99", seller=shop)
    page = Client().get(f"/items/{item.pk}/").content.decode()
    assert "<h1>Red striped tee</h1>" in page and "synth-0-4" not in page and "€23.99" in page


def test_an_oversized_upload_gets_a_page_for_browsers_and_json_for_the_api(settings):
    from marketplace.uploads import upload_limit_text

    settings.UPLOAD_MAX_BYTES = 15 * 1024 * 1024
    big = str(settings.UPLOAD_MAX_BYTES + 2 * 1024 * 1024)
    r = Client().post("/listings/1/", data=b"", content_type="multipart/form-data; boundary=x", CONTENT_LENGTH=big,
                      HTTP_ACCEPT="text/html,application/xhtml+xml", HTTP_REFERER="http://testserver/listings/1/")
    assert r.status_code == 413 and r["Content-Type"].startswith("text/html")
    page = r.content.decode()
    assert upload_limit_text() == "15.7 MB" and "15.7 MB" in page and 'href="http://testserver/listings/1/"' in page
    r = Client().post("/api/searches/", data=b"", content_type="multipart/form-data; boundary=x", CONTENT_LENGTH=big,
                      HTTP_ACCEPT="application/json")
    assert r.status_code == 413 and r.json()["detail"].endswith("uploads are limited to 15.7 MB")


def test_api_docs_and_redoc_use_local_files_only():
    for path, script in (("/api/docs/", "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"),
                         ("/api/redoc/", "/api/redoc/redoc.standalone.js")):
        page = Client().get(path).content.decode()
        assert f'src="{script}"' in page, path
        assert "cdn" not in page.lower() and "googleapis" not in page, path
    script = Client().get("/api/redoc/redoc.standalone.js")
    assert script.status_code == 200 and b"cdn.redoc.ly" not in script.content


def test_logout_returns_to_the_site(seller):
    r = seller.post("/accounts/logout/")
    assert r.status_code == 302 and r["Location"] == "/"
