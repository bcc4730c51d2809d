import hashlib

from django.conf import settings
from django.db import models

from marketplace.garments import GarmentType


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
    (new or changed; an embedder change is a blue/green rebuild instead, see IndexCollection): the index task takes
    them in bounded batches, so a crash loses nothing: the flag is still set."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="stock_images")
    image = models.ImageField(upload_to="stock/%Y/%m/")
    index_dirty = models.BooleanField(default=True, db_index=True)
    indexed_version = models.CharField(max_length=32, blank=True, help_text="embedder version of the indexed vector")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"StockImage {self.pk} of {self.item_id}"

    @property
    def thumbnail_name(self) -> str:
        """Storage name of this image's 64 px thumbnail: the hand-made descriptor's own reduction of it, written by
        the index worker the first time it reads the image and read instead of it by later re-indexes
        (search.parallel_embed). Named after the image file, so a replaced image never meets a stale thumbnail."""
        digest = hashlib.sha1(self.image.name.encode()).hexdigest()[:12]
        return f"stock/thumbs/{self.pk}-{digest}.png"


class IndexCollection(models.Model):
    """One vector-index collection (blue/green re-indexing): the database is the record of which collection serves.

    Named by embedder version and build (`search.index.collection_name(version, build=build)`). Exactly one row is
    `live` (searches query it, with its embedder). A `building` one (at most one) is filled by the index worker in
    primary-key order of StockImage, `cursor` being the last pk it covered, so a restart continues where it stopped;
    when it reaches the end it becomes `live` in one transaction and the old live one is `retired` (its collection
    dropped: `dropped_at`). The very first collection is created `live` and fills in place (`finished_at` null until
    it has covered the catalogue)."""

    class State(models.TextChoices):
        BUILDING = "building"
        LIVE = "live"
        RETIRED = "retired"
        FAILED = "failed"

    name = models.CharField(max_length=128, unique=True)
    embedder_version = models.CharField(max_length=32)
    build = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, db_index=True)
    reason = models.CharField(max_length=200, blank=True, help_text="why it was built")
    total = models.PositiveIntegerField(default=0, help_text="stock images to cover (done + those past the cursor)")
    done = models.PositiveIntegerField(default=0, help_text="stock images the build has covered")
    cursor = models.BigIntegerField(default=0, help_text="last StockImage pk the build covered")
    failures = models.PositiveIntegerField(default=0, help_text="consecutive failed batches")
    claimed_by = models.CharField(max_length=100, blank=True, help_text="worker process filling it (Milvus server)")
    lease_until = models.DateTimeField(null=True, blank=True, help_text="the claim lapses then (a crashed worker)")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True, help_text="the build covered the whole catalogue")
    switched_at = models.DateTimeField(null=True, blank=True, help_text="became live")
    retired_at = models.DateTimeField(null=True, blank=True)
    dropped_at = models.DateTimeField(null=True, blank=True, help_text="its collection was dropped from the store")

    class Meta:
        ordering = ["-build"]
        constraints = [
            models.UniqueConstraint(fields=["state"], condition=models.Q(state="live"),
                                    name="one_live_index_collection"),
            models.UniqueConstraint(fields=["state"], condition=models.Q(state="building"),
                                    name="one_building_index_collection"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"

    @property
    def progress(self) -> float:
        return self.done / self.total if self.total else (1.0 if self.finished_at else 0.0)
