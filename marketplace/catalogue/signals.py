"""Keep the vector index in step with deletions: a deleted stock image's vector is removed by the index worker.

New and changed images need no signal: they carry `index_dirty=True`, which the index task (and the sweeper's
catch-up) work through. A deleted row cannot carry a flag, so its id is sent to the index queue on commit; if that
publish is lost, search still never shows it (hits are mapped to rows that exist) and the next re-index drops it."""
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from marketplace.jobs import queue, task_names

from .models import StockImage


@receiver(post_delete, sender=StockImage)
def remove_deleted_stock_image_from_index(sender, instance: StockImage, **kwargs) -> None:
    pk = instance.pk
    transaction.on_commit(lambda: queue.publish(task_names.REMOVE_FROM_INDEX, [[pk]],
                                                queue.queue_for(task_names.REMOVE_FROM_INDEX)))
