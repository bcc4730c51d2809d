"""Upload -> job done -> suggestions and recommendations stored, on real workers, Valkey and milvus-lite."""
import io

import pytest

from marketplace.jobs import hops
from marketplace.jobs.models import GeneratedImage, ImageJob
from marketplace.listings.models import Listing, Suggestion
from marketplace.shopping.models import Recommendation
from tests.integration.helpers import (CATALOGUE_ITEMS, client_for, seed_and_reindex, upload_listing_photo,
                                       wait_job, wait_until)
from devtools.catalogue_seed import street_photo

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def stack(stack_factory):
    return stack_factory()


@pytest.fixture
def live(stack, broker_settings):
    broker_settings(stack.redis_url)
    return stack


def test_seller_upload_ends_with_ranked_suggestions_and_accept_adds_the_image(live, settings):
    seed_and_reindex()
    seller = client_for("alice")
    listing, accepted = upload_listing_photo(seller)
    job = wait_job(accepted["job"]["id"])
    assert job.state == "done", job.error
    assert job.attempts == 1
    assert set(job.timings) >= {"decode", "preprocess", "stage1", "stage2", "embed", "search"}
    assert job.model_label and job.preprocess_method in ("keypoints", "shoulders+mask", "mask_bbox", "centre")
    assert GeneratedImage.objects.filter(job=job).count() == 1
    # The model worker searched the index itself, through the index worker's milvus-lite server: no second task.
    assert hops.SEARCH_HERE in job.marks and hops.SEARCH_CLAIMED not in job.marks, job.marks

    rows = seller.get(f"/api/listings/{listing['id']}/suggestions/").json()
    assert [r["rank"] for r in rows] == list(range(1, min(settings.SUGGESTIONS_PER_PHOTO, CATALOGUE_ITEMS) + 1))
    assert len({r["stock_image"]["id"] for r in rows}) == len(rows)
    assert all(-1.0 <= r["score"] <= 1.0 for r in rows) and rows == sorted(rows, key=lambda r: -r["score"])

    body = seller.get(f"/api/jobs/{job.pk}/").json()
    assert body["state"] == "done" and body["generated_image"].endswith(".png")

    r = seller.post(f"/api/suggestions/{rows[0]['id']}/accept/")
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert list(Listing.objects.get(pk=listing["id"]).catalogue_images.values_list("pk", flat=True)) == [
        rows[0]["stock_image"]["id"]]
    assert client_for("mallory").post(f"/api/suggestions/{rows[1]['id']}/accept/").status_code == 404


def test_buyer_search_ends_with_one_recommendation_per_in_stock_item(live, settings):
    items = seed_and_reindex()
    items[0].in_stock = False
    items[0].save()
    buyer = client_for("bob")
    data, _ = street_photo(5, seed=0)
    f = io.BytesIO(data)
    f.name = "look.jpg"
    r = buyer.post("/api/searches/", {"image": f, "garment_type": "top"}, format="multipart")
    assert r.status_code == 202, r.content
    job = wait_job(r.json()["job"]["id"])
    assert job.state == "done", job.error
    recs = buyer.get(f"/api/searches/{r.json()['id']}/recommendations/").json()
    item_ids = [rec["item"]["id"] for rec in recs]
    assert recs and len(item_ids) == len(set(item_ids))
    assert items[0].pk not in item_ids
    top_items = {i.pk for i in items if i.category == "top"}
    assert set(item_ids) <= top_items  # the garment filter reached Milvus
    assert Recommendation.objects.filter(query_id=r.json()["id"]).count() == len(recs)
    assert client_for("mallory").get(f"/api/searches/{r.json()['id']}/recommendations/").status_code == 404


def test_failed_job_records_its_reason_and_a_retry_completes_it(live):
    seed_and_reindex()
    seller = client_for("carol")
    listing, accepted = upload_listing_photo(seller)
    job = wait_job(accepted["job"]["id"])
    assert job.state == "done"
    # Break the stored photo behind the job's back (the disk lost it), then ask for a re-run.
    photo = job.listing_photo
    good = photo.image.read()
    photo.image.close()
    with open(photo.image.path, "wb") as fh:
        fh.write(b"garbage")
    ImageJob.objects.filter(pk=job.pk).update(state="failed")
    assert seller.post(f"/api/jobs/{job.pk}/retry/").status_code == 202
    job = wait_job(job.pk)
    assert job.state == "failed" and "could not be read" in job.error
    assert seller.get(f"/api/jobs/{job.pk}/").json()["error"] == job.error

    with open(photo.image.path, "wb") as fh:
        fh.write(good)
    assert seller.post(f"/api/jobs/{job.pk}/retry/").status_code == 202
    job = wait_job(job.pk)
    assert job.state == "done", job.error
    assert Suggestion.objects.filter(photo=photo).count() == len(set(
        Suggestion.objects.filter(photo=photo).values_list("stock_image", flat=True)))
    assert GeneratedImage.objects.filter(job=job).count() == 1


def test_a_long_poll_answers_the_moment_the_job_ends(live, monkeypatch):
    """`GET /api/jobs/{id}/?wait=S`: one request that answers when the index worker announces the end. With the
    re-read fallback pushed out to 30 s, only the announcement can answer it before the 20 s wait runs out."""
    import time

    from marketplace.jobs import job_events

    monkeypatch.setattr(job_events, "RECHECK_SECONDS", 30.0)
    seed_and_reindex()
    seller = client_for("dora")
    _, accepted = upload_listing_photo(seller)
    url = f"/api/jobs/{accepted['job']['id']}/"
    started = time.monotonic()
    resp = seller.get(f"{url}?wait=20")
    elapsed = time.monotonic() - started
    assert resp.status_code == 200 and resp.json()["state"] == "done"
    assert elapsed < 15
    finished = ImageJob.objects.get(pk=accepted["job"]["id"]).finished_at.timestamp()
    assert time.time() - finished < 5  # answered at the end, not at a re-read
    started = time.monotonic()
    assert seller.get(f"{url}?wait=20").json()["state"] == "done" and time.monotonic() - started < 1  # ended: at once
    started = time.monotonic()
    assert client_for("eve").get(f"{url}?wait=20").status_code == 404 and time.monotonic() - started < 1  # not hers
    for bad in ("abc", "-1", "nan", "1000"):
        resp = seller.get(f"{url}?wait={bad}")
        assert resp.status_code == 400 and "wait" in resp.json()


def test_with_the_index_worker_down_a_job_is_handed_over_and_ends_done_once_it_is_back(live):
    """The model worker searches through the index worker's milvus-lite server; with that worker killed (its server
    stops with it) the model worker hands the job over instead, and the restarted index worker searches it. The
    restarted worker publishes its new address, and the next photo is searched by the model worker again."""
    seed_and_reindex()
    seller = client_for("carol")
    live.stack.take_down("index")  # kill -9 of its process group
    try:
        _, accepted = upload_listing_photo(seller)
        job_id = accepted["job"]["id"]
        wait_until(lambda: ImageJob.objects.get(pk=job_id).state == "searching", 90, what="the hand-off")
        job = ImageJob.objects.get(pk=job_id)
        assert job.claimed_by == "" and GeneratedImage.objects.filter(job=job).count() == 1
    finally:
        live.stack.bring_up("index")
    job = wait_job(job_id)
    assert job.state == "done" and hops.SEARCH_CLAIMED in job.marks and hops.SEARCH_HERE not in job.marks, job.error
    assert Suggestion.objects.filter(photo=job.listing_photo).exists()

    _, accepted = upload_listing_photo(seller, item_index=5)
    job = wait_job(accepted["job"]["id"])
    assert job.state == "done" and hops.SEARCH_HERE in job.marks, job.marks
