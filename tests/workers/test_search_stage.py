"""The search stage's honest answers, in-process on a real milvus-lite file that this test owns:

- buyers get in-stock items that are not their own, filtered inside the vector query; sellers get any image;
- hits are aggregated per item;
- the confidence gate: photos with no person (blank, flat colour, noise, a garment with nobody wearing it) run
  through the real generate and search stages end `done`, not confident, every result marked low-confidence;
  a catalogue item's own stock image as the query passes a gate threshold the test sets.
"""

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from marketplace.catalogue.models import Item, StockImage
from marketplace.catalogue.services import item_update
from marketplace.jobs import hops
from marketplace.jobs.models import GeneratedImage, ImageJob
from marketplace.jobs.photo_jobs import SearchHit
from marketplace.listings.models import Listing, ListingPhoto, Suggestion
from marketplace.shopping.models import Recommendation, SearchQuery
from search.embedders import ConfidenceGate
from tests.conftest import png
from workers import runtime
from workers.stages import catalogue_search, generate, in_place_search, index_lifecycle
from workers.stages.confidence import GARMENT_MISSING_NOTE, NO_PERSON_NOTE, Verdict, item_scores, judge

pytestmark = pytest.mark.django_db
ITEMS = 6


def user(name: str):
    return get_user_model().objects.get_or_create(username=name)[0]


@pytest.fixture
def catalogue(own_index):
    """ITEMS drawn catalogue tops with one stock image each, indexed."""
    from imagegen.offline.synth import make_item, render_stock

    seller = user("catalogue")
    rows = []
    for i in range(ITEMS):
        item = Item.objects.create(title=f"item {i}", price=10, seller=seller, category="top")
        image = render_stock(make_item(7, i), 128)
        rows.append(StockImage.objects.create(item=item, image=ContentFile(png(image), name=f"s{i}.png")))
    assert index_lifecycle.index_dirty_stock_images() == 0
    return rows


def stock_pil(row: StockImage) -> Image.Image:
    with row.image.open("rb") as fh:
        return Image.open(fh).convert("RGB")


def buyer_job(buyer, image_bytes_: bytes) -> ImageJob:
    q = SearchQuery.objects.create(buyer=buyer, image=ContentFile(image_bytes_, name="q.png"), garment_type="top")
    return ImageJob.objects.create(kind="search_query", owner=buyer, garment_type="top", search_query=q)


def seller_job(seller, image_bytes_: bytes) -> ImageJob:
    listing = Listing.objects.create(seller=seller, title="mine", garment_type="top")
    photo = ListingPhoto.objects.create(listing=listing, image=ContentFile(image_bytes_, name="p.png"))
    return ImageJob.objects.create(kind="listing_photo", owner=seller, garment_type="top", listing_photo=photo)


def searching_with(job: ImageJob, image: Image.Image, method: str = "keypoints") -> ImageJob:
    """Put `job` where the generate stage leaves it, as if the generator had drawn exactly `image`."""
    embedder = runtime.live_embedder()
    gen = GeneratedImage(job=job, embedding=np.asarray(embedder.embed_image(image), "<f4").tobytes(),
                         embedder_version=embedder.version, model_label="test", trained=True)
    gen.image.save(f"job{job.pk}.png", ContentFile(png(image)), save=False)
    gen.save()
    ImageJob.objects.filter(pk=job.pk).update(state="searching", preprocess_method=method)
    return job


@pytest.fixture
def gate(monkeypatch):
    """Set the live embedder's confidence gate for this test."""
    def set_gate(threshold: float, margin: float = 0.0):
        monkeypatch.setattr(runtime.live_embedder(), "gate", ConfidenceGate(threshold=threshold, margin=margin))
    return set_gate


# --- filters in the index ------------------------------------------------------------------------------------------
def test_buyers_never_get_out_of_stock_or_their_own_items_even_when_nearest(catalogue):
    buyer = user("bob")
    target = catalogue[0]
    item_update(target.item, in_stock=False)  # the signal flags its stock images for re-indexing
    assert StockImage.objects.get(pk=target.pk).index_dirty
    mine = Item.objects.create(title="bob's own", price=5, seller=buyer, category="top")
    # The same picture as the target, on an item of the buyer's own.
    copy = StockImage.objects.create(item=mine, image=ContentFile(png(stock_pil(target)), name="copy.png"))
    assert index_lifecycle.index_dirty_stock_images() == 0

    # In the index itself (no database guard): the exact match and the buyer's own copy of it never come back.
    vector = runtime.live_embedder().embed_image(stock_pil(target))
    hits = index_lifecycle.vector_index().search(vector[None], 50, category="top", in_stock_only=True,
                                         exclude_item_ids=[mine.pk])[0]
    assert hits and not {target.item_id, mine.pk} & {h.item_id for h in hits}
    assert index_lifecycle.vector_index().search(vector[None], 1, category="top")[0][0].score > 0.999  # it is the nearest

    job = pipeline_search(buyer_job(buyer, png(stock_pil(target))), stock_pil(target))
    recs = list(Recommendation.objects.filter(query=job.search_query))
    assert recs and not {target.item_id, mine.pk} & {r.item_id for r in recs}

    # A seller's suggestions are not stock-filtered: an out-of-stock item's picture is still a valid picture.
    job = pipeline_search(seller_job(user("sue"), png(stock_pil(target))), stock_pil(target))
    top2 = list(Suggestion.objects.filter(photo=job.listing_photo).order_by("rank")[:2])
    assert {s.stock_image_id for s in top2} == {target.pk, copy.pk}  # the same picture twice: a tie


def pipeline_search(job: ImageJob, image: Image.Image) -> ImageJob:
    searching_with(job, image)
    assert catalogue_search.search_catalogue(job.pk, "search-task") == "done"
    return ImageJob.objects.get(pk=job.pk)


def test_one_search_task_for_a_batch_answers_each_job_by_its_own_filter_and_fails_only_the_broken_one(catalogue):
    """What a generate batch hands on: one task with every job id. Each job gets its own results (a seller's and
    two buyers' queries: three filters), a job whose generated image is gone fails alone with its reason, a job
    another live delivery holds is left to it, and running the same task again duplicates nothing."""
    sue, bob, ann = user("sue"), user("bob"), user("ann")
    mine = Item.objects.create(title="bob's own", price=5, seller=bob, category="top")
    StockImage.objects.create(item=mine, image=ContentFile(png(stock_pil(catalogue[1])), name="bobs.png"))
    assert index_lifecycle.index_dirty_stock_images() == 0
    seller = searching_with(seller_job(sue, png(stock_pil(catalogue[0]))), stock_pil(catalogue[0]))
    buyer = searching_with(buyer_job(bob, png(stock_pil(catalogue[1]))), stock_pil(catalogue[1]))
    other = searching_with(buyer_job(ann, png(stock_pil(catalogue[1]))), stock_pil(catalogue[1]))
    broken = searching_with(seller_job(sue, png(stock_pil(catalogue[2]))), stock_pil(catalogue[2]))
    GeneratedImage.objects.filter(job=broken).delete()
    held = searching_with(seller_job(sue, png(stock_pil(catalogue[3]))), stock_pil(catalogue[3]))
    ImageJob.objects.filter(pk=held.pk).update(claimed_by="another", lease_expires_at=timezone.now() + timedelta(60))
    ids = [seller.pk, buyer.pk, other.pk, broken.pk, held.pk]

    assert catalogue_search.search_catalogue(ids, "batch-search") == "searched 3 of 5"
    jobs = {j.pk: j for j in ImageJob.objects.filter(pk__in=ids)}
    assert [jobs[pk].state for pk in ids] == ["done", "done", "done", "failed", "searching"]
    assert "searching the catalogue failed" in jobs[broken.pk].error
    assert Suggestion.objects.filter(photo=seller.listing_photo).order_by("rank")[0].stock_image_id == catalogue[0].pk
    bobs = {r.item_id for r in Recommendation.objects.filter(query=buyer.search_query)}
    anns = [r.item_id for r in Recommendation.objects.filter(query=other.search_query).order_by("rank")]
    assert mine.pk not in bobs and catalogue[1].item_id in bobs  # bob never gets his own item
    assert mine.pk in anns[:2] and catalogue[1].item_id in anns[:2]  # ann may: the same picture, a tie
    counts = (Suggestion.objects.count(), Recommendation.objects.count())
    for pk in (seller.pk, buyer.pk):  # a redelivery of the same task after a crash past its commit
        ImageJob.objects.filter(pk=pk).update(state="searching", claimed_by="batch-search")
    catalogue_search.search_catalogue(ids, "batch-search")
    assert (Suggestion.objects.count(), Recommendation.objects.count()) == counts


def test_a_job_whose_results_cannot_be_written_fails_alone_and_the_rest_of_its_batch_ends_done(catalogue, monkeypatch):
    """The batch's one commit is rolled back when one job's write raises; each job is then completed in its own
    transaction, so only that job fails, with its reason (never left claimed for the sweeper to loop on)."""
    from marketplace.jobs import completion

    sue = user("sue")
    good = [searching_with(seller_job(sue, png(stock_pil(row))), stock_pil(row)) for row in catalogue[:2]]
    bad = searching_with(seller_job(sue, png(stock_pil(catalogue[2]))), stock_pil(catalogue[2]))
    write = completion.write_results

    def failing_for_bad(results, first=()):
        if any(job.pk == bad.pk for job, _, _ in results):
            raise RuntimeError("disk full")
        write(results, first)

    monkeypatch.setattr(completion, "write_results", failing_for_bad)
    assert catalogue_search.search_catalogue([good[0].pk, bad.pk, good[1].pk], "batch") == "searched 2 of 3"
    assert ImageJob.objects.get(pk=bad.pk).state == "failed"
    assert "disk full" in ImageJob.objects.get(pk=bad.pk).error
    for job in good:
        assert ImageJob.objects.get(pk=job.pk).state == "done"
        assert Suggestion.objects.filter(photo=job.listing_photo).exists()
    assert not Suggestion.objects.filter(photo=bad.listing_photo).exists()


def test_an_item_back_in_stock_is_re_upserted_and_found_again(catalogue):
    target = catalogue[2]
    item_update(target.item, in_stock=False)
    index_lifecycle.index_dirty_stock_images()
    vector = runtime.live_embedder().embed_image(stock_pil(target))
    assert target.item_id not in {h.item_id for h in index_lifecycle.vector_index().search(vector[None], 3, "top", True)[0]}
    item_update(target.item, in_stock=True)
    assert index_lifecycle.index_dirty_stock_images() == 0
    assert index_lifecycle.vector_index().search(vector[None], 1, "top", True)[0][0].item_id == target.item_id
    item_update(target.item, title="renamed")  # a field the index does not hold: nothing to re-index
    assert not StockImage.objects.filter(index_dirty=True).exists()


def test_recommendations_are_one_per_item_and_the_gate_sees_items_not_images(catalogue, gate):
    target = catalogue[3]
    second = StockImage.objects.create(item=target.item, image=ContentFile(png(stock_pil(target)), name="again.png"))
    index_lifecycle.index_dirty_stock_images()
    # Two pictures of one item score the same: per image that is a tie (margin 0), per item a clear winner.
    gate(0.99, margin=0.02)
    job = pipeline_search(buyer_job(user("bob"), b"x"), stock_pil(target))
    recs = list(Recommendation.objects.filter(query=job.search_query).order_by("rank"))
    assert [r.item_id for r in recs].count(target.item_id) == 1 and recs[0].item_id == target.item_id
    assert len(recs) == len({r.item_id for r in recs})
    assert job.confident is True, job.confidence_note
    hits = [SearchHit(target.pk, target.item_id, 1.0), SearchHit(second.pk, target.item_id, 1.0),
            SearchHit(catalogue[0].pk, catalogue[0].item_id, 0.5)]
    assert item_scores(hits) == [(target.item_id, 1.0), (catalogue[0].item_id, 0.5)]


# --- the confidence gate ---------------------------------------------------------------------------------------------
def no_person_photos():
    from imagegen.offline.synth import make_item, render_stock

    rng = np.random.default_rng(0)
    return {
        "blank white": Image.new("RGB", (256, 320), "white"),
        "flat colour": Image.new("RGB", (256, 320), (40, 90, 160)),
        "noise": Image.fromarray(rng.integers(0, 256, (320, 256, 3), dtype=np.uint8)),
        "a garment, nobody wearing it": render_stock(make_item(7, 4), 256),  # a catalogue item's own picture
    }


def generate_and_search(job: ImageJob, n, here: bool) -> ImageJob:
    """The job through the real generate stage and, where it searches, the search stage: the model worker's own
    search (`here`, the default) or the hand-off to the index worker (SEARCH_IN_MODEL_WORKER off)."""
    if here:
        assert generate.generate_stock_image(job.pk, f"gen-{n}") == "done"
    else:
        assert generate.generate_stock_image(job.pk, f"gen-{n}") == "generated"
        assert ImageJob.objects.get(pk=job.pk).state == "searching"
        assert catalogue_search.search_catalogue(job.pk, f"search-{n}") == "done"
    job = ImageJob.objects.get(pk=job.pk)
    assert (hops.SEARCH_HERE in job.marks) == here and (hops.SEARCH_CLAIMED in job.marks) == (not here)
    return job


@pytest.mark.parametrize("here", [True, False], ids=["searched-by-the-model-worker", "handed-to-the-index-worker"])
def test_photos_without_a_person_end_done_not_confident_with_every_result_low_confidence(catalogue, gate, settings,
                                                                                         here):
    settings.SEARCH_IN_MODEL_WORKER = here
    gate(-1.0)  # even a gate that passes any score must not make a photo with no person confident
    buyer, seller = user("bob"), user("sue")
    for n, (name, photo) in enumerate(no_person_photos().items()):
        job = (buyer_job if n % 2 == 0 else seller_job)(buyer if n % 2 == 0 else seller, png(photo))
        job = generate_and_search(job, n, here)
        assert job.state == "done" and job.found_no_person, (name, job.preprocess_method, job.warnings)
        assert job.confident is False and job.confidence_note == NO_PERSON_NOTE, name
        rows = (Recommendation.objects.filter(query=job.search_query) if job.search_query_id
                else Suggestion.objects.filter(photo=job.listing_photo))
        assert rows.exists() and not rows.filter(low_confidence=False).exists(), name


def test_a_catalogue_items_own_image_is_a_confident_match_above_the_threshold(catalogue, gate):
    target = catalogue[5]
    gate(0.99)
    job = pipeline_search(seller_job(user("sue"), b"x"), stock_pil(target))
    assert job.state == "done" and job.confident is True and job.confidence_note == ""
    rows = list(Suggestion.objects.filter(photo=job.listing_photo).order_by("rank"))
    assert rows[0].stock_image_id == target.pk and not rows[0].low_confidence
    assert all(r.low_confidence == (r.score < 0.99) for r in rows) and any(r.low_confidence for r in rows[1:])

    gate(1.01)  # an unreachable threshold: the same query is now only a candidate, and the note says why
    job = pipeline_search(seller_job(user("sue"), b"x"), stock_pil(target))
    assert job.state == "done" and job.confident is False
    assert job.confidence_note.startswith("no confident match: best score 1.00 is below the confidence threshold 1.01")
    assert not Suggestion.objects.filter(photo=job.listing_photo, low_confidence=False).exists()


def test_the_verdict_rules():
    job = ImageJob(preprocess_method="keypoints", warnings=[])
    g = ConfidenceGate(threshold=0.8, margin=0.1)
    hit = lambda item, score: SearchHit(item, item, score)  # noqa: E731
    assert judge(job, [hit(1, 0.9), hit(2, 0.7)], g).confident
    assert "below the confidence threshold 0.80" in judge(job, [hit(1, 0.75)], g).note
    assert "above the next item" in judge(job, [hit(1, 0.9), hit(2, 0.85)], g).note
    assert judge(job, [], g).note == "no confident match: nothing in the catalogue matched"
    for method, warnings in (("centre", ["no person detected: centre crop"]), ("keypoints", ["no person detected"])):
        job = ImageJob(preprocess_method=method, warnings=warnings)
        assert judge(job, [hit(1, 0.99)], g).note == NO_PERSON_NOTE
    job = ImageJob(preprocess_method="mask_bbox", warnings=[
        "hips not visible: cropped to the person's outline",
        "hips not visible: the requested garment (bottom) is not in the photo"])
    assert job.garment_not_in_photo and not job.found_no_person
    assert judge(job, [hit(1, 0.99)], g) == Verdict(False, GARMENT_MISSING_NOTE)


def test_a_portrait_searched_as_a_bottom_ends_done_not_confident_and_says_why(catalogue, gate):
    import matplotlib.cbook

    gate(-1.0)  # even a gate that passes any score: her trousers are not in the photo
    photo = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).read_bytes()
    buyer = user("bea")
    job = buyer_job(buyer, photo)
    SearchQuery.objects.filter(pk=job.search_query_id).update(garment_type="bottom")
    ImageJob.objects.filter(pk=job.pk).update(garment_type="bottom")
    job = generate_and_search(job, "portrait", here=True)
    assert job.garment_not_in_photo and not job.found_no_person, job.warnings
    assert job.confident is False and job.confidence_note == GARMENT_MISSING_NOTE
    assert not Recommendation.objects.filter(query=job.search_query, low_confidence=False).exists()


# --- the model worker's own search, and its fallback to the index worker ---------------------------------------------
def assert_handed_to_the_index_worker(job: ImageJob) -> None:
    """Where the hand-off leaves a job: `searching`, unclaimed, its search task published, one generated image
    whose files exist, and no results yet."""
    job = ImageJob.objects.get(pk=job.pk)
    assert job.state == "searching" and job.claimed_by == "" and job.published_at is not None, job.error
    rows = list(GeneratedImage.objects.filter(job=job))
    assert len(rows) == 1 and all(f.storage.exists(f.name) for f in (rows[0].image, rows[0].preprocessed_image))
    assert not Suggestion.objects.filter(photo=job.listing_photo).exists()


def test_when_the_index_cannot_be_queried_from_the_model_worker_the_index_worker_searches_instead(catalogue,
                                                                                                  monkeypatch):
    """A failing query (here: a live collection that is gone from the store) saves nothing of the model worker's
    search: the job is handed to the index worker as if it had never tried, and that search ends it `done`."""
    embedder = runtime.live_embedder()
    gone = index_lifecycle.index_store().open("stock_images_gone", embedder.dim, create=False)  # a real, failing query
    monkeypatch.setattr(in_place_search, "searcher", lambda: (embedder, gone))
    job = seller_job(user("sue"), png(stock_pil(catalogue[3])))
    assert generate.generate_stock_image(job.pk, "gen") == "generated"
    assert_handed_to_the_index_worker(job)
    assert catalogue_search.search_catalogue(job.pk, "search") == "done"
    job = ImageJob.objects.get(pk=job.pk)
    assert job.state == "done" and hops.SEARCH_CLAIMED in job.marks and hops.SEARCH_HERE not in job.marks
    assert GeneratedImage.objects.filter(job=job).count() == 1
    assert Suggestion.objects.filter(photo=job.listing_photo).count() == min(ITEMS, 8)


def test_when_the_model_workers_commit_fails_nothing_of_it_stays_and_the_index_worker_completes_the_job(
        catalogue, monkeypatch):
    """The one commit (generated rows, results, `done`) is rolled back when a write in it raises; the generated rows
    are then saved by the hand-off (once, with the same files), and the index worker's search writes the results."""
    from marketplace.jobs import completion

    write, calls = completion.write_results, []

    def fails_first(results, first=()):
        calls.append([job.pk for job, _, _ in results])
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        write(results, first)

    monkeypatch.setattr(completion, "write_results", fails_first)
    job = seller_job(user("sue"), png(stock_pil(catalogue[4])))
    assert generate.generate_stock_image(job.pk, "gen") == "generated"
    assert_handed_to_the_index_worker(job)
    assert catalogue_search.search_catalogue(job.pk, "search") == "done"
    assert len(calls) == 2 and ImageJob.objects.get(pk=job.pk).state == "done"
    assert GeneratedImage.objects.filter(job=job).count() == 1
    assert Suggestion.objects.filter(photo=job.listing_photo).exists()


def test_with_the_setting_off_every_search_goes_through_the_index_worker(catalogue, settings):
    settings.SEARCH_IN_MODEL_WORKER = False
    assert in_place_search.searcher() is None
    job = seller_job(user("sue"), png(stock_pil(catalogue[1])))
    assert generate.generate_stock_image(job.pk, "gen") == "generated"
    assert_handed_to_the_index_worker(job)


def test_a_job_generated_again_keeps_one_generated_image_and_drops_the_old_files(
        catalogue, django_capture_on_commit_callbacks):
    """The claim reads whether the job already has a generated image (a retry, a redelivery): the commit then
    replaces it, and its files go once the commit lands."""
    job = seller_job(user("sue"), png(stock_pil(catalogue[2])))
    assert generate.generate_stock_image(job.pk, "first") == "done"
    first = GeneratedImage.objects.get(job=job)
    ImageJob.objects.filter(pk=job.pk).update(state="pending", claimed_by="", lease_expires_at=None)
    with django_capture_on_commit_callbacks(execute=True):  # the old files go once the commit lands
        assert generate.generate_stock_image(job.pk, "again") == "done"
    second = GeneratedImage.objects.get(job=job)
    assert second.pk != first.pk and not first.image.storage.exists(first.image.name)
    assert second.image.storage.exists(second.image.name)
    assert Suggestion.objects.filter(photo=job.listing_photo).count() == min(ITEMS, 8)
