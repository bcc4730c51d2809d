"""A job's API answer is built directly (JobSerializer.to_representation, for speed): it must stay exactly what the
declared fields give, for jobs in every state, through the real API as well."""
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.test import RequestFactory
from django.utils import timezone
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.test import APIClient

from marketplace.api.serializers import JobSerializer
from marketplace.jobs.models import GeneratedImage, ImageJob
from marketplace.listings.models import Listing, ListingPhoto
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db
S = ImageJob.State


def declared(job, request) -> dict:
    """What DRF's ModelSerializer makes of the declared fields (the code the fast path replaces)."""
    return serializers.ModelSerializer.to_representation(JobSerializer(context={"request": request}), job)


@pytest.fixture
def jobs(media_root):
    user = get_user_model().objects.create(username="seller")
    listing = Listing.objects.create(seller=user, title="t")

    def job(**fields):
        photo = ListingPhoto.objects.create(listing=listing, image=ContentFile(image_bytes(), name="p.jpg"))
        return ImageJob.objects.create(kind="listing_photo", owner=user, listing_photo=photo, **fields)

    now = timezone.now()
    fresh = job()
    running = job(state=S.GENERATING, started_at=now, attempts=1, claimed_by="t")
    failed = job(state=S.FAILED, started_at=now, finished_at=now + timedelta(seconds=1), attempts=3,
                 error="the photo could not be read: truncated", warnings=["no person found"])
    done = job(state=S.DONE, started_at=now, finished_at=now + timedelta(milliseconds=61), attempts=1,
               confident=False, confidence_note="far from every item", timings={"stage1": 5.7, "search": 2.8},
               preprocess_method="pose", model_label="v3")
    gen = GeneratedImage(job=done, embedding=b"\0" * 8, embedder_version="e", model_label="v3", trained=True)
    gen.image.save("stock.png", ContentFile(image_bytes("PNG")), save=False)
    gen.stage1_image.save("stage1.png", ContentFile(image_bytes("PNG")), save=False)
    gen.save()  # no preprocessed image: that link is null
    return user, [fresh, running, failed, done]


def test_the_answer_is_what_the_declared_fields_give(jobs):
    _, rows = jobs
    request = Request(RequestFactory().get("/api/jobs/"))
    for job in ImageJob.objects.filter(pk__in=[j.pk for j in rows]).select_related("generated"):
        fast = JobSerializer(job, context={"request": request}).data
        assert list(fast) == JobSerializer.Meta.fields
        assert fast == declared(job, request), job.state
    done = JobSerializer(rows[3], context={"request": request}).data
    assert done["generated_image"].startswith("http://testserver/media/") and done["preprocessed_image"] is None
    assert done["trained_model"] is True and done["finished_at"].endswith("Z")


def test_the_api_answers_with_it(jobs):
    user, rows = jobs
    client = APIClient()
    client.force_authenticate(user)
    done = rows[3]
    body = client.get(f"/api/jobs/{done.pk}/").json()
    request = Request(RequestFactory().get(f"/api/jobs/{done.pk}/"))
    assert body == declared(ImageJob.objects.select_related("generated").get(pk=done.pk), request)
