"""Private media (issue #12): photos and generated images reach only their owner and staff, under random names,
always typed from their sniffed content; catalogue stock images stay public. Without workers: the generated-image
rows are written here the way workers/stages/storage.py writes them."""
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from marketplace.accounts.roles import role_assign
from marketplace.catalogue.models import Item, StockImage
from marketplace.jobs.models import GeneratedImage, ImageJob
from marketplace.listings.models import ListingPhoto
from marketplace.shopping.models import SearchQuery
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db

SCRIPT = b"<html><script>alert(document.cookie)</script></html>"
RANDOM_NAME = r"{folder}/\d{{4}}/\d{{2}}/[0-9a-f]{{32}}\.{ext}"


def user(username: str, staff: bool = False):
    u = get_user_model().objects.create_user(username, password="pw-123456", is_staff=staff)
    role_assign(u, "seller")
    role_assign(u, "buyer")
    return u


def session(u=None) -> Client:
    c = Client()
    if u is not None:
        c.force_login(u)
    return c


def api(u) -> APIClient:
    c = APIClient()
    c.force_authenticate(u)
    return c


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def upload_listing_photo(u, data: bytes, name: str = "p.jpg", content_type: str | None = None) -> dict:
    c = api(u)
    listing = c.post("/api/listings/", {"title": "Red top", "garment_type": "top"}, format="json").json()
    f = ContentFile(data, name=name)
    if content_type:
        f.content_type = content_type
    r = c.post(f"/api/listings/{listing['id']}/photos/", {"image": f}, format="multipart")
    assert r.status_code == 202, r.content
    body = c.get(f"/api/listings/{listing['id']}/").json()
    return body["photos"][0]


def upload_search_photo(u, data: bytes, name: str = "q.jpg") -> dict:
    c = api(u)
    r = c.post("/api/searches/", {"image": ContentFile(data, name=name), "garment_type": "top"}, format="multipart")
    assert r.status_code == 202, r.content
    return c.get(f"/api/searches/{r.json()['id']}/").json()


def add_generated_images(job: ImageJob) -> GeneratedImage:
    """What workers/stages/storage.py (generated_row, replace_generated) writes, without the models, for a job that a
    worker claimed (only then can it have generated images)."""
    ImageJob.objects.filter(pk=job.pk).update(started_at=timezone.now())
    gen = GeneratedImage(job=job, embedding=b"\0" * 8, embedder_version="t", model_label="t")
    gen.image.save("stock.png", ContentFile(image_bytes("PNG")), save=False)
    gen.stage1_image.save("stage1.png", ContentFile(image_bytes("PNG")), save=False)
    gen.preprocessed_image.save("input.png", ContentFile(image_bytes("PNG")), save=False)
    gen.save()
    return gen


@pytest.fixture
def people(media_root):
    return {"owner": user("olive"), "other": user("mallory"), "staff": user("ops", staff=True)}


def assert_served_as_image(r, content_type: str, private: bool = True):
    assert r.status_code == 200, getattr(r, "content", b"")[:200]
    assert r["Content-Type"] == content_type
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r["Content-Disposition"] == "inline"
    assert "sandbox" in r["Content-Security-Policy"] and "default-src 'none'" in r["Content-Security-Policy"]
    if private:
        assert r["Cache-Control"].startswith("private") and r["Cross-Origin-Resource-Policy"] == "same-origin"
    else:
        assert r["Cache-Control"].startswith("public")


def assert_refused(r):
    assert r.status_code == 404
    assert not r.get("Content-Type", "").startswith("image/")
    assert "X-Accel-Redirect" not in r


# --- the rules, one per kind of file ------------------------------------------------------------------------------
def test_listing_photo_is_served_to_its_seller_and_staff_only(people):
    url = path_of(upload_listing_photo(people["owner"], image_bytes())["image"])
    assert_served_as_image(session(people["owner"]).get(url), "image/jpeg")
    assert_served_as_image(session(people["staff"]).get(url), "image/jpeg")
    assert_refused(session(people["other"]).get(url))
    assert_refused(session().get(url))


def test_search_photo_is_served_to_its_buyer_and_staff_only(people):
    url = path_of(upload_search_photo(people["owner"], image_bytes("PNG"), name="q.png")["image"])
    assert_served_as_image(session(people["owner"]).get(url), "image/png")
    assert_served_as_image(session(people["staff"]).get(url), "image/png")
    assert_refused(session(people["other"]).get(url))
    assert_refused(session().get(url))


def test_all_three_generated_images_are_served_to_the_jobs_owner_and_staff_only(people):
    photo = upload_listing_photo(people["owner"], image_bytes())
    job = ImageJob.objects.get(pk=photo["job"]["id"])
    add_generated_images(job)
    body = api(people["owner"]).get(f"/api/jobs/{job.pk}/").json()
    urls = [path_of(body[k]) for k in ("generated_image", "stage1_image", "preprocessed_image")]
    assert len(set(urls)) == 3
    for url in urls:
        assert_served_as_image(session(people["owner"]).get(url), "image/png")
        assert_served_as_image(session(people["staff"]).get(url), "image/png")
        assert_refused(session(people["other"]).get(url))
        assert_refused(session().get(url))
    assert api(people["other"]).get(f"/api/jobs/{job.pk}/").status_code == 404


def test_catalogue_stock_images_are_public(people):
    item = Item.objects.create(title="Shirt", price="10.00", seller=people["staff"])
    stock = StockImage.objects.create(item=item, image=ContentFile(image_bytes("PNG"), name="s.png"))
    r = session().get(stock.image.url)
    assert_served_as_image(r, "image/png", private=False)
    listed = APIClient().get(f"/api/items/{item.pk}/").json()["stock_images"][0]["image"]
    assert session().get(path_of(listed)).status_code == 200


def test_api_clients_fetch_media_with_their_token(people):
    url = path_of(upload_listing_photo(people["owner"], image_bytes())["image"])
    owner_token = Token.objects.create(user=people["owner"]).key
    other_token = Token.objects.create(user=people["other"]).key
    assert_served_as_image(Client().get(url, HTTP_AUTHORIZATION=f"Token {owner_token}"), "image/jpeg")
    assert_refused(Client().get(url, HTTP_AUTHORIZATION=f"Token {other_token}"))
    assert api(people["owner"]).get(url).status_code == 200  # force_authenticate: the view is the API's


# --- names --------------------------------------------------------------------------------------------------------
def test_stored_names_are_random_and_keep_nothing_of_the_client_name(people):
    a = upload_listing_photo(people["owner"], image_bytes(), name="my-holiday.jpeg")
    b = upload_listing_photo(people["owner"], image_bytes(), name="my-holiday.jpeg")
    names = [ListingPhoto.objects.get(pk=p["id"]).image.name for p in (a, b)]
    assert names[0] != names[1]
    for n in names:
        assert re.fullmatch(RANDOM_NAME.format(folder="listing-photos", ext="jpg"), n), n
        assert "holiday" not in n
    q = SearchQuery.objects.get(pk=upload_search_photo(people["owner"], image_bytes(), name="x.gif")["id"])
    assert re.fullmatch(RANDOM_NAME.format(folder="search-photos", ext="jpg"), q.image.name)  # sniffed: JPEG


def test_generated_image_names_are_random_not_the_job_id(people):
    job = ImageJob.objects.get(pk=upload_listing_photo(people["owner"], image_bytes())["job"]["id"])
    gen = add_generated_images(job)
    for f in (gen.image, gen.stage1_image, gen.preprocessed_image):
        assert re.fullmatch(RANDOM_NAME.format(folder="generated", ext="png"), f.name), f.name
        assert f"job{job.pk}" not in f.name


def test_media_lookups_use_an_index_on_the_file_name_columns():
    def indexed(table, column):
        return any(c["index"] and c["columns"] == [column]
                   for c in connection.introspection.get_constraints(connection.cursor(), table).values())

    assert indexed(ListingPhoto._meta.db_table, "image")
    assert indexed(SearchQuery._meta.db_table, "image")
    for column in ("image", "stage1_image", "preprocessed_image"):
        assert indexed(GeneratedImage._meta.db_table, column)


# --- never HTML ---------------------------------------------------------------------------------------------------
def test_png_with_a_script_uploaded_as_html_is_served_only_as_a_png(people):
    poly = image_bytes("PNG") + SCRIPT
    photo = upload_listing_photo(people["owner"], poly, name="poly.html", content_type="text/html")
    stored = ListingPhoto.objects.get(pk=photo["id"]).image.name
    assert stored.endswith(".png") and "poly" not in stored and ".html" not in stored
    r = session(people["owner"]).get(path_of(photo["image"]))
    assert_served_as_image(r, "image/png")
    assert b"".join(r.streaming_content) == poly  # stored as sent (not re-encoded): inert because of its type
    for who in ("other", None):
        assert_refused(session(people.get(who)).get(path_of(photo["image"])))


def test_legacy_rows_keep_working_and_html_named_files_are_typed_from_their_bytes(people, media_root):
    """Rows written before random names (a client's `poly.html` kept as is) still resolve for their owner, typed
    from the content; a stored file that is not an image at all is never served."""
    job = ImageJob.objects.get(pk=upload_listing_photo(people["owner"], image_bytes())["job"]["id"])
    photo = job.listing_photo
    legacy = "listing-photos/2026/11/poly.html"
    (media_root / legacy).parent.mkdir(parents=True, exist_ok=True)
    (media_root / legacy).write_bytes(image_bytes("PNG") + SCRIPT)
    ListingPhoto.objects.filter(pk=photo.pk).update(image=legacy)
    assert_served_as_image(session(people["owner"]).get(f"/media/{legacy}"), "image/png")
    assert_refused(session().get(f"/media/{legacy}"))

    (media_root / legacy).write_bytes(SCRIPT)  # not an image: refused even to its owner, never sent as text/html
    assert_refused(session(people["owner"]).get(f"/media/{legacy}"))


@pytest.mark.parametrize("url", [
    "/media/stock/../listing-photos/x.png",
    "/media/stock/%2e%2e/%2e%2e/manage.py",
    "/media/..%2f..%2fmanage.py",
    "/media//etc/passwd",
    "/media/stock//x.png",
    "/media/stock/..\\..\\manage.py",
    "/media/stock/%00.png",
])
def test_path_traversal_is_404_even_for_staff(people, url):
    assert_refused(session(people["staff"]).get(url))


def test_unknown_paths_are_404_even_for_staff(people, media_root):
    (media_root / "notes").mkdir(exist_ok=True)
    (media_root / "notes" / "a.png").write_bytes(image_bytes("PNG"))  # a real image, outside the rule table
    staff = session(people["staff"])
    for url in ("/media/notes/a.png", "/media/listing-photos/2026/11/" + "0" * 32 + ".png",
                "/media/generated/2026/11/nope.png", "/media/search-photos/", "/media/stock/none.png", "/media/"):
        assert_refused(staff.get(url))


def test_only_get_and_head_and_any_accept_header(people):
    url = path_of(upload_listing_photo(people["owner"], image_bytes())["image"])
    c = session(people["owner"])
    assert c.head(url).status_code == 200
    assert c.get(url, HTTP_ACCEPT="image/avif,image/webp").status_code == 200
    assert c.post(url).status_code == 405


# --- pages and the proxy offload ---------------------------------------------------------------------------------
def test_pages_show_images_through_the_checked_view(people):
    photo = upload_listing_photo(people["owner"], image_bytes())
    job = ImageJob.objects.get(pk=photo["job"]["id"])
    add_generated_images(job)
    owner = session(people["owner"])
    page = owner.get(f"/listings/{photo['listing']}/").content.decode()
    srcs = re.findall(r'<img[^>]+src="([^"]+)"', page)
    assert len(srcs) >= 2
    for src in srcs:
        assert src.startswith("/media/")
        assert owner.get(src).status_code == 200
        assert_refused(session(people["other"]).get(src))


def test_accel_redirect_hands_the_transfer_to_the_proxy_after_the_check(people, settings):
    settings.MEDIA_ACCEL_REDIRECT_PREFIX = "/protected-media/"
    url = path_of(upload_listing_photo(people["owner"], image_bytes("PNG"), name="a b.png")["image"])
    name = url.removeprefix("/media/")
    r = session(people["owner"]).get(url)
    assert_served_as_image(r, "image/png")
    assert r["X-Accel-Redirect"] == "/protected-media/" + name and r.content == b""
    assert_refused(session(people["other"]).get(url))
    assert_refused(session().get(url))


# --- renaming files stored before random names ------------------------------------------------------------------
def test_legacy_files_get_random_names_and_stay_reachable_for_their_owner_only(people, media_root):
    from marketplace.media_rename import media_rename_legacy

    def legacy(name: str, data: bytes) -> str:
        (media_root / name).parent.mkdir(parents=True, exist_ok=True)
        (media_root / name).write_bytes(data)
        return name

    done = ImageJob.objects.get(pk=upload_listing_photo(people["owner"], image_bytes())["job"]["id"])
    gen = add_generated_images(done)
    ListingPhoto.objects.filter(pk=done.listing_photo_id).update(
        image=legacy("listing-photos/2026/11/poly.html", image_bytes("PNG") + SCRIPT))
    GeneratedImage.objects.filter(pk=gen.pk).update(
        image=legacy(f"generated/2026/11/job{done.pk}_stock.png", image_bytes("PNG")),
        stage1_image=legacy(f"generated/2026/11/job{done.pk}_stage1.png", SCRIPT))  # not an image: left alone
    ImageJob.objects.filter(pk=done.pk).update(state="done")
    busy = ImageJob.objects.get(pk=upload_listing_photo(people["owner"], image_bytes())["job"]["id"])
    ListingPhoto.objects.filter(pk=busy.listing_photo_id).update(
        image=legacy("listing-photos/2026/11/busy.jpg", image_bytes()))  # its job is pending: a worker may read it

    counts = media_rename_legacy()

    assert counts == {"renamed": 2, "skipped": 1}
    photo, gen = ListingPhoto.objects.get(pk=done.listing_photo_id), GeneratedImage.objects.get(pk=gen.pk)
    assert re.fullmatch(RANDOM_NAME.format(folder="listing-photos", ext="png"), photo.image.name)
    assert re.fullmatch(RANDOM_NAME.format(folder="generated", ext="png"), gen.image.name)
    assert gen.stage1_image.name == f"generated/2026/11/job{done.pk}_stage1.png"
    assert ListingPhoto.objects.get(pk=busy.listing_photo_id).image.name == "listing-photos/2026/11/busy.jpg"
    assert not (media_root / "listing-photos/2026/11/poly.html").exists()
    assert not (media_root / f"generated/2026/11/job{done.pk}_stock.png").exists()
    for url in (photo.image.url, gen.image.url):
        assert_served_as_image(session(people["owner"]).get(url), "image/png")
        assert_refused(session(people["other"]).get(url))
    assert media_rename_legacy() == {"renamed": 0, "skipped": 1}  # idempotent
