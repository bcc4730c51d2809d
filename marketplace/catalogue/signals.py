"""Keep the vector index in step with deletions and with the item fields it filters on.

A deleted stock image's vector is removed by the index worker. An item whose `category` or `in_stock` changes has
its stock images flagged dirty so the index worker re-upserts them (services.stock_images_mark_dirty).

New images need no signal: they carry `index_dirty=True`, which the index task (and the sweeper's catch-up) work
through; a replaced image file is flagged dirty again here. A deleted row cannot carry a flag, so its id is sent to
the index queue on commit; if that publish is lost, search still never shows it (hits are mapped to rows that exist)
and the next re-index drops it. Its thumbnail file (StockImage.thumbnail_name) is deleted on commit too."""
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from marketplace.jobs import queue, task_names

from .models import Item, StockImage
from .services import INDEXED_FIELDS, stock_images_mark_dirty


@receiver(post_delete, sender=StockImage)
def remove_deleted_stock_image_from_index(sender, instance: StockImage, **kwargs) -> None:
    pk, thumbnail = instance.pk, instance.thumbnail_name
    transaction.on_commit(lambda: queue.publish(task_names.REMOVE_FROM_INDEX, [[pk]],
                                                queue.queue_for(task_names.REMOVE_FROM_INDEX)))
    transaction.on_commit(lambda: _delete_file(thumbnail))


def _delete_file(name: str) -> None:
    try:
        default_storage.delete(name)
    except Exception:  # a cache file: one left behind costs 3 KB, never a wrong answer (its name is the image's)
        pass


@receiver(pre_save, sender=StockImage)
def reindex_replaced_image(sender, instance: StockImage, raw=False, **kwargs) -> None:
    """A stock image whose file was replaced (admin) is embedded again: flag it dirty in the same save."""
    if instance.pk and not raw:
        before = StockImage.objects.filter(pk=instance.pk).values_list("image", flat=True).first()
        if before is not None and before != instance.image.name:
            instance.index_dirty = True


# --- an item's indexed fields changed: re-upsert its stock images ------------------------------------------------
@receiver(pre_save, sender=Item)
def remember_indexed_fields(sender, instance: Item, raw=False, **kwargs) -> None:
    instance._indexed_before = None
    if instance.pk and not raw:
        instance._indexed_before = Item.objects.filter(pk=instance.pk).values(*INDEXED_FIELDS).first()


@receiver(post_save, sender=Item)
def reindex_item_when_indexed_fields_change(sender, instance: Item, created=False, raw=False, **kwargs) -> None:
    before = getattr(instance, "_indexed_before", None)
    if created or raw or before is None:
        return
    if any(before[f] != getattr(instance, f) for f in INDEXED_FIELDS):
        stock_images_mark_dirty([instance.pk])
