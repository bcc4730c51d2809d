"""Blue/green index lifecycle (workers.stages.index_lifecycle), in-process on a real milvus-lite file that this test owns:
the first start builds and goes live; a new embedder version is built into a new collection while the old one
keeps answering every search with the full catalogue and the old embedder, then switches; stock images added or
changed during a build are in the new collection; a crashed build resumes without duplicates; a second re-index
request is the first one."""

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from PIL import Image

from marketplace.catalogue.models import IndexCollection, Item, StockImage
from marketplace.catalogue.selectors import index_overview
from marketplace.catalogue.services import item_update, reindex_start
from marketplace.jobs import photo_jobs
from marketplace.jobs.models import GeneratedImage, ImageJob, ReindexRun
from marketplace.listings.models import Listing, ListingPhoto
from search.embedders import ConfidenceGate, HandmadeEmbedder, register_embedder
from tests.conftest import png
from workers import runtime
from workers.stages import catalogue_search, index_lifecycle

pytestmark = pytest.mark.django_db
OLD, NEW = "hcg1", "t2"
S = IndexCollection.State


class ProjectedEmbedder:
    """A second embedder version for tests: the hand-made descriptor projected to 32 dimensions (so its vectors fit
    only its own collection)."""

    version = NEW
    dim = 32

    def __init__(self):
        self._base = HandmadeEmbedder()
        self._proj = np.random.default_rng(0).standard_normal((self._base.dim, self.dim)).astype(np.float32)
        self.gate = ConfidenceGate(threshold=1.01)
        self.info = {"version": self.version, "kind": "test", "dim": self.dim}

    def embed_images(self, images):
        v = self._base.embed_images(images) @ self._proj
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    def embed_image(self, image):
        return self.embed_images([image])[0]


@pytest.fixture
def own_index(own_index, monkeypatch):
    """The shared fresh index, starting on the hand-made version, with a second version registered."""
    monkeypatch.setenv("EMBEDDER_VERSION", OLD)
    register_embedder(NEW, ProjectedEmbedder)
    yield
    register_embedder(NEW, None)


def stock_image(i: int, category: str = "top") -> StockImage:
    seller = get_user_model().objects.get_or_create(username="cat")[0]
    item = Item.objects.create(title=f"item {i}", price=1, seller=seller, category=category)
    picture = Image.new("RGB", (64, 64), ((37 * i) % 256, 255 - (23 * i) % 256, (91 * i) % 256))
    picture.paste((255 - (37 * i) % 256, 40, 200), (8 + i % 20, 8, 40, 40 + i % 16))
    return StockImage.objects.create(item=item, image=ContentFile(png(picture), name=f"s{i}.png"))


def make_catalogue(n: int) -> list[StockImage]:
    rows = [stock_image(i) for i in range(n)]
    while index_lifecycle.index_dirty_stock_images():
        pass
    return rows


def pil(row: StockImage) -> Image.Image:
    with row.image.open("rb") as fh:
        return Image.open(fh).convert("RGB")


def stored(row_or_name) -> dict[int, str]:
    """id -> category of every row stored in a collection (duplicates would show as a longer list: see count)."""
    name = row_or_name if isinstance(row_or_name, str) else row_or_name.name
    ix = index_lifecycle.index_store()
    res = ix._client.query(name, filter="id >= 0", output_fields=["id", "category"])
    return {int(r["id"]): r["category"] for r in res}


def live_hits(query_row: StockImage, k: int = 100) -> list:
    """A search as the search stage makes it: the live embedder's query vector against the live collection."""
    vector = runtime.live_embedder().embed_image(pil(query_row))
    return index_lifecycle.vector_index().search(vector[None], k)[0]


def run_build(build_batch: int, between=None) -> int:
    """Index task after index task until nothing is left; `between()` runs after each. Returns the task count."""
    steps = 0
    while True:
        remaining = index_lifecycle.index_dirty_stock_images(build_batch=build_batch)
        steps += 1
        if between:
            between()
        if not remaining:
            return steps
        assert steps < 100


# --- (a) first start ---------------------------------------------------------------------------------------------
def test_first_start_builds_the_first_collection_and_makes_it_live(own_index):
    assert runtime.live_embedder().version == OLD  # nothing built yet: the active version
    rows = [stock_image(i) for i in range(7)]
    sweep = index_lifecycle.sweep()  # the beat sweeper (or the worker's warm-up) notices there is no live collection
    assert sweep["work"] and sweep["index_build"].endswith("_b1")
    live = IndexCollection.objects.get()
    assert (live.state, live.embedder_version, live.build, live.finished_at) == (S.LIVE, OLD, 1, None)
    assert run_build(build_batch=3) == 3  # 3 + 3 + 1: the first collection fills in place, in bounded batches
    live.refresh_from_db()
    assert live.finished_at and live.done == live.total == 7 and live.cursor == rows[-1].pk
    assert index_lifecycle.vector_index().collection == live.name and index_lifecycle.vector_index().count() == 7
    assert not StockImage.objects.filter(index_dirty=True).exists()
    assert set(StockImage.objects.values_list("indexed_version", flat=True)) == {OLD}
    assert index_lifecycle.index_store().collections(index_lifecycle.COLLECTION_PREFIX) == [live.name]
    overview = index_overview()
    assert overview["live"]["name"] == live.name and overview["building"] is None
    assert index_lifecycle.sweep() == {"index_build": "", "index_dropped": 0, "work": False, "build": False}


# --- (b) + (c) a new embedder version --------------------------------------------------------------------------
def test_a_new_embedder_version_is_built_beside_the_live_collection_which_keeps_serving(own_index, monkeypatch):
    rows = make_catalogue(10)
    old = IndexCollection.objects.get(state=S.LIVE)
    monkeypatch.setenv("EMBEDDER_VERSION", NEW)
    sweep = index_lifecycle.sweep()
    assert sweep["work"]
    building = IndexCollection.objects.get(state=S.BUILDING)
    assert (building.embedder_version, building.build, building.name) == (NEW, 2, sweep["index_build"])
    assert building.name.endswith("_t2_b2")

    answers = []

    def search_between_batches():
        live = IndexCollection.objects.get(state=S.LIVE)
        if live.pk == old.pk:  # still building: the old collection, with the old embedder, the whole catalogue
            assert runtime.live_embedder().version == OLD
            assert index_lifecycle.vector_index().collection == old.name
            assert index_lifecycle.vector_index().dim == HandmadeEmbedder().dim
            progress = index_overview()["building"]
            assert progress["name"] == building.name and 0 <= progress["progress"] <= 1
        for row in rows[::3]:
            hits = live_hits(row)
            answers.append(len(hits))
            assert hits[0].id == row.pk  # its own picture is the nearest

    steps = run_build(build_batch=3, between=search_between_batches)
    assert steps == 4  # 3 + 3 + 3 + 1, the switch in the last one
    assert answers and set(answers) == {10}  # never zero, never partial

    new = IndexCollection.objects.get(state=S.LIVE)
    old.refresh_from_db()
    assert new.pk == building.pk and new.switched_at and new.done == new.total == 10
    assert old.state == S.RETIRED and old.retired_at and old.dropped_at
    assert index_lifecycle.index_store().collections(index_lifecycle.COLLECTION_PREFIX) == [new.name]  # the old one dropped
    assert runtime.live_embedder().version == NEW and index_lifecycle.vector_index().dim == ProjectedEmbedder.dim
    assert index_lifecycle.vector_index().count() == 10 and sorted(stored(new)) == [r.pk for r in rows]
    assert set(StockImage.objects.values_list("indexed_version", flat=True)) == {NEW}
    assert not ReindexRun.objects.exists()  # an automatic rebuild needs no operator


def test_searches_through_the_search_stage_during_a_rebuild_always_see_the_whole_catalogue(own_index, monkeypatch):
    rows = make_catalogue(9)
    seller = get_user_model().objects.get_or_create(username="sue")[0]
    found = []
    complete = photo_jobs.job_complete

    def counting_complete(job_id, task_id, hits, *args, **kwargs):
        found.append(len(hits))
        return complete(job_id, task_id, hits, *args, **kwargs)

    monkeypatch.setattr(catalogue_search.jobs, "job_complete", counting_complete)

    def search_stage():
        # As the generate stage leaves a job: a vector from the live embedder at generation time (hcg1 throughout
        # the build, so after the switch the search stage embeds the stored image again with the new one).
        listing = Listing.objects.create(seller=seller, title="mine", garment_type="top")
        photo = ListingPhoto.objects.create(listing=listing, image=ContentFile(png(pil(rows[4])), name="p.png"))
        job = ImageJob.objects.create(kind="listing_photo", owner=seller, garment_type="top", listing_photo=photo)
        vector = np.asarray(HandmadeEmbedder().embed_image(pil(rows[4])), "<f4")
        gen = GeneratedImage(job=job, embedding=vector.tobytes(), embedder_version=OLD, model_label="t", trained=True)
        gen.image.save(f"job{job.pk}.png", ContentFile(png(pil(rows[4]))), save=False)
        gen.save()
        ImageJob.objects.filter(pk=job.pk).update(state="searching", preprocess_method="keypoints")
        assert catalogue_search.search_catalogue(job.pk, f"t{job.pk}") == "done", ImageJob.objects.get(pk=job.pk).error

    monkeypatch.setenv("EMBEDDER_VERSION", NEW)
    index_lifecycle.sweep()
    search_stage()
    run_build(build_batch=2, between=search_stage)
    assert IndexCollection.objects.get(state=S.LIVE).embedder_version == NEW
    search_stage()
    assert len(found) == 7 and set(found) == {9}, found


# --- (d) changes during a build ------------------------------------------------------------------------------------
def test_stock_images_added_changed_or_deleted_during_a_build_are_right_in_the_new_collection(own_index, monkeypatch):
    rows = make_catalogue(6)
    old = IndexCollection.objects.get(state=S.LIVE)
    monkeypatch.setenv("EMBEDDER_VERSION", NEW)
    index_lifecycle.sweep()
    assert index_lifecycle.index_dirty_stock_images(build_batch=3) == 3  # the build's cursor is at rows[2]
    building = IndexCollection.objects.get(state=S.BUILDING)
    assert building.cursor == rows[2].pk

    added = stock_image(100)  # a new stock image (flagged dirty), past the cursor
    item_update(rows[0].item, category="bottom")  # a change behind the cursor: flagged dirty
    item_update(rows[4].item, category="whole")  # a change ahead of the cursor
    gone = rows[1].pk
    rows[1].delete()  # behind the cursor: its vector must leave both collections
    assert index_lifecycle.remove_from_index([gone]) == 1

    # The next index task: dirty images go to the live collection (all) and to the building one (behind the cursor).
    remaining = index_lifecycle.index_dirty_stock_images(build_batch=1)
    assert sorted(stored(old)) == sorted(r.pk for r in StockImage.objects.all())  # live: up to date meanwhile
    assert stored(old)[added.pk] == "top" and stored(old)[rows[0].pk] == "bottom"
    assert remaining and not StockImage.objects.filter(index_dirty=True).exists()
    run_build(build_batch=3)

    new = IndexCollection.objects.get(state=S.LIVE)
    assert new.embedder_version == NEW
    contents = stored(new)
    expected = {r.pk: r.item.category for r in StockImage.objects.select_related("item")}
    assert contents == expected and added.pk in contents and gone not in contents
    assert contents[rows[0].pk] == "bottom" and contents[rows[4].pk] == "whole"
    assert index_lifecycle.vector_index().count() == StockImage.objects.count() == 6  # nothing twice


# --- (e) a crash mid-build ----------------------------------------------------------------------------------------
def test_a_crash_mid_build_resumes_from_the_cursor_without_duplicates(own_index, monkeypatch):
    rows = make_catalogue(10)
    monkeypatch.setenv("EMBEDDER_VERSION", NEW)
    index_lifecycle.sweep()
    index_lifecycle.index_dirty_stock_images(build_batch=3)
    building = IndexCollection.objects.get(state=S.BUILDING)
    assert building.cursor == rows[2].pk

    def crash(*args, **kwargs):  # the worker dies after inserting a batch, before its cursor is saved
        raise RuntimeError("simulated crash")

    with monkeypatch.context() as m:
        m.setattr(index_lifecycle, "_save_progress", crash)
        with pytest.raises(RuntimeError, match="simulated crash"):
            index_lifecycle.index_dirty_stock_images(build_batch=3)
    building.refresh_from_db()
    assert building.cursor == rows[2].pk and building.failures == 1 and "simulated crash" in building.error
    assert runtime.collection_index(building.name, ProjectedEmbedder.dim).count() == 6  # 3 saved + 3 past the cursor

    # A new worker process: a fresh connection, nothing remembered.
    runtime._index.close()
    runtime._index = None
    assert IndexCollection.objects.get(state=S.LIVE).embedder_version == OLD  # still serving meanwhile
    run_build(build_batch=3)

    live = IndexCollection.objects.get(state=S.LIVE)
    assert live.pk == building.pk and live.failures == 0 and live.done == live.total == 10
    assert index_lifecycle.vector_index().count() == StockImage.objects.count() == 10  # no duplicates
    assert sorted(stored(live)) == [r.pk for r in rows]


def test_a_build_that_keeps_failing_is_given_up_and_an_operator_re_index_tries_again(own_index, monkeypatch):
    make_catalogue(4)
    old = IndexCollection.objects.get(state=S.LIVE)
    monkeypatch.setenv("EMBEDDER_VERSION", NEW)
    index_lifecycle.sweep()
    with monkeypatch.context() as m:
        m.setattr(ProjectedEmbedder, "embed_images", lambda self, images: 1 / 0)
        for _ in range(index_lifecycle.MAX_BUILD_FAILURES):
            with pytest.raises(ZeroDivisionError):
                index_lifecycle.index_dirty_stock_images()
    failed = IndexCollection.objects.get(embedder_version=NEW)
    assert failed.state == S.FAILED and failed.dropped_at and "ZeroDivisionError" in failed.error
    assert IndexCollection.objects.get(state=S.LIVE).pk == old.pk  # the old one never stopped serving
    assert index_lifecycle.sweep()["work"] is False  # not retried automatically, in a loop

    run = reindex_start(user=None)
    index_lifecycle.reindex(run.pk)
    run_build(build_batch=3)
    run.refresh_from_db()
    live = IndexCollection.objects.get(state=S.LIVE)
    assert run.state == "done" and live.embedder_version == NEW and live.build == 3
    assert index_lifecycle.vector_index().count() == 4


def test_switching_back_during_a_build_sets_the_build_aside(own_index, monkeypatch):
    make_catalogue(5)
    old = IndexCollection.objects.get(state=S.LIVE)
    monkeypatch.setenv("EMBEDDER_VERSION", NEW)
    index_lifecycle.sweep()
    index_lifecycle.index_dirty_stock_images(build_batch=2)
    monkeypatch.setenv("EMBEDDER_VERSION", OLD)
    assert index_lifecycle.sweep() == {"index_build": "", "index_dropped": 0, "work": False, "build": False}
    aside = IndexCollection.objects.get(embedder_version=NEW)
    assert aside.state == S.RETIRED and aside.dropped_at and "superseded" in aside.error
    assert IndexCollection.objects.get(state=S.LIVE).pk == old.pk
    assert index_lifecycle.index_store().collections(index_lifecycle.COLLECTION_PREFIX) == [old.name]


# --- (f) the operator's re-index ---------------------------------------------------------------------------------
def test_a_re_index_builds_a_new_collection_and_a_second_request_is_the_first_one(own_index):
    rows = make_catalogue(8)
    old = IndexCollection.objects.get(state=S.LIVE)
    run = reindex_start(user=None)
    assert reindex_start(user=None).pk == run.pk  # pending: the same run
    index_lifecycle.reindex(run.pk)
    run.refresh_from_db()
    assert run.state == "running" and run.total == 8
    assert reindex_start(user=None).pk == run.pk  # running: the same run
    index_lifecycle.reindex(run.pk)  # a duplicate delivery of the task does nothing
    assert IndexCollection.objects.filter(state=S.BUILDING).count() == 1

    counts = []
    run_build(build_batch=3, between=lambda: counts.append(len(live_hits(rows[5]))))
    assert set(counts) == {8}  # the live collection was never emptied
    run.refresh_from_db()
    assert run.state == "done" and run.done == run.total == 8 and run.finished_at
    live = IndexCollection.objects.get(state=S.LIVE)
    assert (live.embedder_version, live.build) == (OLD, 2)
    old.refresh_from_db()
    assert old.state == S.RETIRED and old.dropped_at
    assert index_lifecycle.index_store().collections(index_lifecycle.COLLECTION_PREFIX) == [live.name]
    assert sorted(stored(live)) == [r.pk for r in rows]
    assert reindex_start(user=None).pk != run.pk  # finished: a new request is a new run


# --- thumbnails ----------------------------------------------------------------------------------------------------
def test_the_first_read_keeps_a_thumbnail_that_re_indexes_read_with_identical_vectors(
        own_index, settings, django_capture_on_commit_callbacks):
    """The index worker writes each stock image's 64 px thumbnail when it first reads it; a re-index reads the
    thumbnail instead of the original and stores the very same vectors; a replaced image is flagged dirty and gets a
    new thumbnail; a deleted one loses its thumbnail."""
    from pathlib import Path

    rows = make_catalogue(5)
    thumbs = {r.pk: Path(settings.MEDIA_ROOT) / r.thumbnail_name for r in rows}
    assert all(p.is_file() for p in thumbs.values())
    first = {r["id"]: r["vector"] for r in index_lifecycle.index_store()._client.query(
        index_lifecycle.live_collection().name, filter="id >= 0", output_fields=["id", "vector"])}

    before = {pk: p.stat().st_mtime_ns for pk, p in thumbs.items()}
    index_lifecycle.reindex(reindex_start(user=None).pk)
    run_build(2)
    live = index_lifecycle.live_collection()
    assert live.build == 2
    again = {r["id"]: r["vector"] for r in index_lifecycle.index_store()._client.query(
        live.name, filter="id >= 0", output_fields=["id", "vector"])}
    assert again.keys() == first.keys()
    assert all(np.array_equal(np.float32(again[k]), np.float32(first[k])) for k in first)
    assert {pk: p.stat().st_mtime_ns for pk, p in thumbs.items()} == before  # read, not written again

    row = rows[0]
    row.image = ContentFile(png(Image.new("RGB", (64, 64), (10, 200, 10))), name="replaced.png")
    row.save()
    row.refresh_from_db()
    assert row.index_dirty and Path(settings.MEDIA_ROOT, row.thumbnail_name) != thumbs[row.pk]
    while index_lifecycle.index_dirty_stock_images():
        pass
    assert Path(settings.MEDIA_ROOT, row.thumbnail_name).is_file()
    assert live_hits(row, 1)[0].id == row.pk

    gone = rows[1]
    gone_thumb = thumbs[gone.pk]
    with django_capture_on_commit_callbacks(execute=True):
        gone.delete()
    assert not gone_thumb.exists()
