"""Catalogue use cases that touch the vector index.

The index stores, beside each stock image's vector, the fields a search filters on inside the vector query: the
item's `category` and `in_stock`. When either changes, the item's stock images are flagged `index_dirty` and the
index task is published on commit; the index worker re-upserts them (and the sweeper catches up if that publish is
lost). `Item.save()` does this through a signal (signals.py), so the admin and `item_update` behave alike; a bulk
`QuerySet.update()` bypasses signals: call `stock_images_mark_dirty` after one. An operator's full re-index starts
with `reindex_start`."""
from __future__ import annotations

from django.db import transaction

from marketplace.jobs import queue, runs, task_names
from marketplace.jobs.models import ReindexRun

from .models import Item, StockImage

# Item fields the index stores next to each vector (search.index).
INDEXED_FIELDS = ("category", "in_stock")


def stock_images_mark_dirty(item_ids) -> int:
    """Flag the items' stock images for re-indexing and publish the index task on commit; returns rows flagged."""
    n = StockImage.objects.filter(item_id__in=list(item_ids)).update(index_dirty=True)
    if n:
        transaction.on_commit(lambda: queue.publish(task_names.INDEX_STOCK_IMAGES, [],
                                                    queue.queue_for(task_names.INDEX_STOCK_IMAGES)))
    return n


def item_update(item: Item, **fields) -> Item:
    """Change an item's fields; a change of `category` or `in_stock` re-indexes its stock images (via the signal)."""
    for name, value in fields.items():
        setattr(item, name, value)
    item.save(update_fields=list(fields) or None)
    return item


def reindex_start(*, user) -> ReindexRun:
    """Rebuild the vector index from every stock image: a re-index run over the catalogue as it is now (one at a
    time: while one is pending or running, that run is returned; marketplace.jobs.runs.reindex_run_start)."""
    return runs.reindex_run_start(user=user, total=StockImage.objects.count())
