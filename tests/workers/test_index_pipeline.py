"""The index functions the index worker runs, called in-process on a real milvus-lite file that this test owns."""
import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from marketplace.catalogue.models import Item, StockImage
from tests.conftest import image_bytes
from workers import runtime
from workers.stages import index_lifecycle

pytestmark = pytest.mark.django_db


def make_stock(n, color=(200, 30, 30)):
    seller = get_user_model().objects.get_or_create(username="cat")[0]
    rows = []
    for i in range(n):
        item = Item.objects.create(title=f"item {i}", price=1, seller=seller, category="top" if i % 2 else "bottom")
        rows.append(StockImage.objects.create(item=item, image=ContentFile(image_bytes("PNG", color=color), name="s.png")))
    return rows


def test_dirty_stock_images_are_indexed_in_bounded_batches_and_flags_cleared(own_index):
    assert index_lifecycle.index_dirty_stock_images() == 0  # first start, empty catalogue: the first collection is live
    rows = make_stock(5)
    assert index_lifecycle.index_dirty_stock_images(batch=2) == 3
    assert index_lifecycle.index_dirty_stock_images(batch=2) == 1
    assert index_lifecycle.index_dirty_stock_images(batch=2) == 0
    assert index_lifecycle.vector_index().count() == 5
    assert set(StockImage.objects.values_list("indexed_version", flat=True)) == {runtime.live_embedder().version}
    assert index_lifecycle.index_dirty_stock_images() == 0  # nothing left: a no-op
    StockImage.objects.filter(pk=rows[0].pk).update(index_dirty=True)
    index_lifecycle.index_dirty_stock_images()
    assert index_lifecycle.vector_index().count() == 5  # re-indexing an image replaces its vector


def test_an_unreadable_stock_image_is_skipped_not_blocking_the_rest(own_index):
    rows = make_stock(3)
    with open(rows[1].image.path, "wb") as fh:
        fh.write(b"broken")
    assert index_lifecycle.index_dirty_stock_images() == 0
    assert index_lifecycle.vector_index().count() == 2
    assert StockImage.objects.get(pk=rows[1].pk).indexed_version == "unreadable"


def test_deleted_stock_images_leave_the_index(own_index):
    rows = make_stock(3)
    index_lifecycle.index_dirty_stock_images()
    ids = [r.pk for r in rows]
    rows[0].delete()
    assert index_lifecycle.remove_from_index(ids) == 1  # the two that still exist stay
    assert index_lifecycle.vector_index().count() == 2
