from django.conf import settings
from django.db import models


class GarmentType(models.TextChoices):
    """Which part of the body the garment covers; it picks the preprocessing crop and filters the search."""

    TOP = "top", "Top"
    BOTTOM = "bottom", "Bottom"
    WHOLE = "whole", "Whole body"


class Item(models.Model):
    title = models.CharField(max_length=200)
    category = models.CharField(max_length=16, choices=GarmentType.choices, default=GarmentType.TOP)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    seller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="items")
    in_stock = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title


class StockImage(models.Model):
    """A catalogue-quality image of an item. `index_dirty` marks rows the vector index has not caught up with
    (new, changed, or after an embedder change): the index task takes them in bounded batches, so a crash loses
    nothing: the flag is still set."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="stock_images")
    image = models.ImageField(upload_to="stock/%Y/%m/")
    index_dirty = models.BooleanField(default=True, db_index=True)
    indexed_version = models.CharField(max_length=32, blank=True, help_text="embedder version of the indexed vector")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"StockImage {self.pk} of {self.item_id}"
