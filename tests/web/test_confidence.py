"""What a user sees of the confidence verdict: the job's `confident` / `confidence_note`, each result's
`low_confidence`, in the API, its schema and the pages. The search stage's verdict is written here with the same
service the worker calls (`job_complete`); tests/workers covers how the verdict is reached."""
import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.test import Client
from rest_framework.test import APIClient

from marketplace.catalogue.models import Item, StockImage
from marketplace.jobs import photo_jobs
from marketplace.jobs.models import ImageJob
from marketplace.jobs.photo_jobs import SearchHit
from marketplace.listings.models import Listing, ListingPhoto
from marketplace.shopping.models import SearchQuery
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(media_root):
    seller = get_user_model().objects.create_user("sam", password="pw-123456")
    buyer = get_user_model().objects.create_user("bea", password="pw-123456")
    shop = get_user_model().objects.create_user("shop")
    items = [Item.objects.create(title=f"i{i}", price=1, seller=shop) for i in range(3)]
    stock = [StockImage.objects.create(item=it, image=ContentFile(image_bytes(), name="s.jpg")) for it in items]
    hits = [SearchHit(s.pk, s.item_id, score) for s, score in zip(stock, (0.95, 0.90, 0.60))]
    listing = Listing.objects.create(seller=seller, title="t")
    photo = ListingPhoto.objects.create(listing=listing, image=ContentFile(image_bytes(), name="p.jpg"))
    query = SearchQuery.objects.create(buyer=buyer, image=ContentFile(image_bytes(), name="q.jpg"))
    return dict(seller=seller, buyer=buyer, hits=hits, listing=listing, photo=photo, query=query)


def finish(job: ImageJob, hits, **verdict) -> ImageJob:
    ImageJob.objects.filter(pk=job.pk).update(state="searching", claimed_by="t")
    assert photo_jobs.job_complete(job.pk, "t", hits, {"search": 1.0}, **verdict)
    return ImageJob.objects.get(pk=job.pk)


def api(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user)
    return c


def test_a_confident_job_marks_only_results_below_the_threshold(world):
    job = ImageJob.objects.create(kind="listing_photo", owner=world["seller"], listing_photo=world["photo"],
                                  preprocess_method="keypoints")
    finish(job, world["hits"], confident=True, confidence_threshold=0.8)
    c = api(world["seller"])
    body = c.get(f"/api/jobs/{job.pk}/").json()
    assert body["state"] == "done" and body["confident"] is True and body["confidence_note"] == ""
    rows = c.get(f"/api/listings/{world['listing'].pk}/suggestions/").json()
    assert [r["low_confidence"] for r in rows] == [False, False, True]
    page = _page(world["seller"], f"/listings/{world['listing'].pk}/")
    assert "Confident match" in page and page.count("low confidence</span>") == 1


def test_a_job_with_no_person_is_done_and_every_result_is_low_confidence(world):
    note = "no person found in the photo: results are a guess"
    job = ImageJob.objects.create(kind="search_query", owner=world["buyer"], search_query=world["query"],
                                  preprocess_method="centre", warnings=["no person detected: centre crop"])
    finish(job, world["hits"], confident=False, confidence_note=note, confidence_threshold=0.8)
    c = api(world["buyer"])
    body = c.get(f"/api/jobs/{job.pk}/").json()
    assert body["state"] == "done" and body["confident"] is False and body["confidence_note"] == note
    recs = c.get(f"/api/searches/{world['query'].pk}/recommendations/").json()
    assert len(recs) == 3 and all(r["low_confidence"] for r in recs)
    page = _page(world["buyer"], f"/search/{world['query'].pk}/")
    assert "No person found in the photo" in page and page.count("low confidence</span>") == 3
    assert 'class="card low"' in page


def test_a_job_whose_garment_is_not_in_the_photo_says_so_and_every_result_is_low_confidence(world):
    note = "the requested garment is not in the photo: results are a guess"
    job = ImageJob.objects.create(kind="search_query", owner=world["buyer"], search_query=world["query"],
                                  garment_type="bottom", preprocess_method="mask_bbox", warnings=[
                                      "hips not visible: cropped to the person's outline",
                                      "hips not visible: the requested garment (bottom) is not in the photo"])
    finish(job, world["hits"], confident=False, confidence_note=note, confidence_threshold=0.8)
    body = api(world["buyer"]).get(f"/api/jobs/{job.pk}/").json()
    assert body["confident"] is False and body["confidence_note"] == note
    assert "hips not visible: the requested garment (bottom) is not in the photo" in body["warnings"]
    page = _page(world["buyer"], f"/search/{world['query'].pk}/")
    assert "The bottom you asked for is not in the photo." in page and "No person found" not in page
    assert page.count("low confidence</span>") == 3


def test_a_score_below_the_gate_says_no_confident_match(world):
    note = "no confident match: best score 0.95 is below the confidence threshold 0.97"
    job = ImageJob.objects.create(kind="listing_photo", owner=world["seller"], listing_photo=world["photo"],
                                  preprocess_method="keypoints")
    finish(job, world["hits"], confident=False, confidence_note=note, confidence_threshold=0.97)
    page = _page(world["seller"], f"/listings/{world['listing'].pk}/")
    assert "No confident match: best score 0.95" in page and page.count("low confidence</span>") == 3
    # A retry forgets the old verdict until the new one is written.
    ImageJob.objects.filter(pk=job.pk).update(state="failed")
    assert photo_jobs.job_retry(ImageJob.objects.get(pk=job.pk))
    job.refresh_from_db()
    assert job.confident is None and job.confidence_note == ""


def test_schema_documents_the_confidence_fields():
    r = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert r.status_code == 200
    schemas = r.json()["components"]["schemas"]
    assert {"confident", "confidence_note"} <= set(schemas["Job"]["properties"])
    assert schemas["Job"]["properties"]["confident"].get("nullable") is True
    assert "low_confidence" in schemas["Suggestion"]["properties"]
    assert "low_confidence" in schemas["Recommendation"]["properties"]
    assert "include_feedback" in schemas["TrainingParameters"]["properties"]


def _page(user, path: str) -> str:
    c = Client()
    c.force_login(user)
    r = c.get(path)
    assert r.status_code == 200
    return r.content.decode()
