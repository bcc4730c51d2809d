"""Hostile and careless input at the API answers 4xx with a reason, never a 500 (issue #12): missing fields, bounds
on pagination and ids, deep JSON, prices and titles; roles decide who lists; password guesses and uploads are
throttled; a second re-index request returns the run already queued."""
import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from marketplace.accounts.roles import role_assign
from marketplace.jobs.models import ReindexRun
from marketplace.listings.models import Listing
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_throttle_counters():
    cache.clear()
    yield
    cache.clear()


def client_for(username: str, role: str | None = None, staff: bool = False) -> APIClient:
    user = get_user_model().objects.create_user(username=username, password="pw-123456", is_staff=staff)
    if role:
        role_assign(user, role)
    c = APIClient()
    c.force_authenticate(user)
    return c


@pytest.fixture
def seller():
    return client_for("sally", "seller")


def test_listing_without_garment_type_gets_the_default_not_a_500(seller):
    r = seller.post("/api/listings/", {"title": "x"}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["garment_type"] == "top"


@pytest.mark.parametrize("body, field", [
    ({}, "title"),
    ({"title": "   "}, "title"),
    ({"title": "t" * 201}, "title"),
    ({"title": "ok", "price": "-1"}, "price"),
    ({"title": "ok", "price": "1.005"}, "price"),
    ({"title": "ok", "price": "10000000"}, "price"),
    ({"title": "ok", "price": "NaN"}, "price"),
    ({"title": "ok", "garment_type": "hat"}, "garment_type"),
    ({"title": ["a", "b"]}, "title"),
])
def test_bad_listing_fields_are_400_with_the_field_named(seller, body, field):
    r = seller.post("/api/listings/", body, format="json")
    assert r.status_code == 400, r.content
    assert field in r.json()
    assert Listing.objects.count() == 0


def test_title_is_trimmed_and_price_kept_to_two_decimals(seller):
    r = seller.post("/api/listings/", {"title": "  Red top  ", "price": "12.50"}, format="json")
    assert r.status_code == 201
    assert r.json()["title"] == "Red top" and r.json()["price"] == "12.50"


@pytest.mark.parametrize("query", ["limit=9223372036854775808", "offset=9223372036854775808", "limit=0",
                                   "limit=-1", "limit=abc", "offset=-5", "limit=201", "limit=%EF%BC%91"])
def test_pagination_out_of_bounds_is_400_even_anonymous(query):
    r = APIClient().get(f"/api/items/?{query}")
    assert r.status_code == 400, r.content
    assert "must be a whole number" in json.dumps(r.json())


def test_pagination_in_bounds_works():
    assert APIClient().get("/api/items/?limit=200&offset=1000000").status_code == 200


@pytest.mark.parametrize("path", ["/api/items/9223372036854775808/", "/api/listings/99999999999999999999/",
                                  "/api/jobs/-1/", "/api/searches/1e3/"])
def test_ids_out_of_range_are_404(seller, path):
    assert seller.get(path).status_code == 404


def test_unknown_job_state_filter_is_400(seller):
    r = seller.get("/api/jobs/?state=exploded")
    assert r.status_code == 400 and "state" in r.json()
    assert seller.get("/api/jobs/?state=failed").status_code == 200


@pytest.mark.parametrize("path", ["/api/auth/token/", "/api/listings/"])
def test_json_nested_a_thousand_deep_is_400(seller, path):
    body = "[" * 1000 + "]" * 1000
    r = seller.post(path, body, content_type="application/json")
    assert r.status_code == 400
    assert "nested deeper" in r.json()["detail"]


def test_brackets_inside_strings_do_not_count_as_nesting(seller):
    r = seller.post("/api/listings/", json.dumps({"title": "[" * 150}), content_type="application/json")
    assert r.status_code == 201


def test_buyer_cannot_create_a_listing_but_can_search(media_root):
    buyer = client_for("bob", "buyer")
    r = buyer.post("/api/listings/", {"title": "x", "garment_type": "top"}, format="json")
    assert r.status_code == 403 and "only sellers" in r.json()["detail"]
    assert Listing.objects.count() == 0
    f = io.BytesIO(image_bytes())
    f.name = "p.jpg"
    assert buyer.post("/api/searches/", {"image": f}, format="multipart").status_code == 202


def test_account_without_a_role_cannot_list_but_staff_can():
    assert client_for("nobody").post("/api/listings/", {"title": "x"}, format="json").status_code == 403
    assert client_for("ops", staff=True).post("/api/listings/", {"title": "x"}, format="json").status_code == 201


def test_buyer_cannot_create_a_listing_on_the_pages():
    user = get_user_model().objects.create_user("bea", password="pw-123456")
    role_assign(user, "buyer")
    c = Client()
    c.force_login(user)
    r = c.post("/listings/", {"title": "x", "garment_type": "top"})
    assert r.status_code == 403 and b"only sellers" in r.content
    assert Listing.objects.count() == 0


def test_token_login_is_throttled_per_account_with_retry_after(settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login": "5/min"}
    get_user_model().objects.create_user("victim", password="right-password")
    c = APIClient()
    codes = [c.post("/api/auth/token/", {"username": "victim", "password": f"guess-{i}"}, format="json").status_code
             for i in range(6)]
    assert codes == [400] * 5 + [429]
    r = c.post("/api/auth/token/", {"username": "victim", "password": "right-password"}, format="json")
    assert r.status_code == 429 and int(r["Retry-After"]) > 0
    assert "sign-in attempts" in r.json()["detail"]
    # another account from the same address is not locked out
    get_user_model().objects.create_user("other", password="other-password")
    r = c.post("/api/auth/token/", {"username": "other", "password": "other-password"}, format="json")
    assert r.status_code == 200 and r.json()["token"]


def test_login_page_is_throttled_per_account_with_retry_after(settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login": "3/min"}
    get_user_model().objects.create_user("victim", password="right-password")
    c = Client()
    codes = [c.post("/accounts/login/", {"username": "victim", "password": "nope"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = c.post("/accounts/login/", {"username": "victim", "password": "right-password"})
    assert r.status_code == 429 and int(r["Retry-After"]) > 0 and b"sign-in attempts" in r.content


def test_uploads_are_throttled_per_user(settings, seller, media_root):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "upload": "2/min"}
    listing = seller.post("/api/listings/", {"title": "x"}, format="json").json()

    def upload(path):
        f = io.BytesIO(image_bytes())
        f.name = "p.jpg"
        return seller.post(path, {"image": f}, format="multipart")

    assert upload(f"/api/listings/{listing['id']}/photos/").status_code == 202
    assert upload("/api/searches/").status_code == 202
    r = upload(f"/api/listings/{listing['id']}/photos/")
    assert r.status_code == 429 and "photo uploads" in r.json()["detail"] and r["Retry-After"]
    assert seller.get("/api/listings/").status_code == 200  # reading is not throttled


def test_second_reindex_request_returns_the_queued_run():
    staff = client_for("ops", staff=True)
    first = staff.post("/api/admin/reindex-runs/")
    second = staff.post("/api/admin/reindex-runs/")
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert ReindexRun.objects.count() == 1


def _png(size=(120, 90), interlace=False) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.linear_gradient("L").resize(size).convert("RGB").save(buf, "PNG", interlace=interlace)
    return buf.getvalue()


@pytest.mark.parametrize("data, ok", [
    (_png(), True),
    (_png(interlace=True), True),
    (_png()[:-30], False),  # truncated inside the image data
    (_png()[:60] + bytes([_png()[60] ^ 0xFF]) + _png()[61:], False),  # a flipped byte: checksum mismatch
])
def test_png_is_checked_without_decoding_it_whole(seller, media_root, data, ok):
    listing = seller.post("/api/listings/", {"title": "x"}, format="json").json()
    f = io.BytesIO(data)
    f.name = "p.png"
    r = seller.post(f"/api/listings/{listing['id']}/photos/", {"image": f}, format="multipart")
    assert r.status_code == (202 if ok else 400), r.content
    if not ok:
        assert "damaged" in r.json()["detail"]
