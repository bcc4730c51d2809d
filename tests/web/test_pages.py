"""The server-rendered pages call the same services as the API: a seller creates a listing and uploads a photo,
a bad photo is refused with its reason, and nobody sees another seller's listing."""
import io

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from marketplace.jobs.models import ImageJob
from marketplace.listings.models import Listing
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def seller(media_root):
    c = Client()
    c.force_login(get_user_model().objects.create_user("sam", password="pw-123456"))
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
    assert "pending" in page and 'http-equiv="refresh"' in page  # refreshes itself while the job runs


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
