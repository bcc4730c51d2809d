from django.conf import settings
from django.db import models

from marketplace.catalogue.models import StockImage
from marketplace.garments import GarmentType
from marketplace.media_names import RandomName
from marketplace.photos import PhotoMatch, UploadedPhoto


class Listing(models.Model):
    seller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="listings")
    title = models.CharField(max_length=200)
    garment_type = models.CharField(max_length=16, choices=GarmentType.choices, default=GarmentType.TOP)
    price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    # Catalogue images the seller accepted from the suggestions.
    catalogue_images = models.ManyToManyField(StockImage, blank=True, related_name="listings")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.title


class ListingPhoto(UploadedPhoto):
    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="photos")
    # Private to the seller and staff (marketplace.media_access finds the row by this indexed name).
    image = models.ImageField(upload_to=RandomName("listing-photos"), db_index=True)

    class Meta:
        ordering = ["id"]


class Suggestion(PhotoMatch):
    class Status(models.TextChoices):
        PROPOSED = "proposed"
        ACCEPTED = "accepted"
        REJECTED = "rejected"

    photo = models.ForeignKey(ListingPhoto, on_delete=models.CASCADE, related_name="suggestions")
    stock_image = models.ForeignKey(StockImage, on_delete=models.CASCADE, related_name="suggestions")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROPOSED)

    class Meta:
        ordering = ["photo_id", "rank"]
        constraints = [
            # A re-run job replaces its rows; these make a duplicate impossible even if two runs raced.
            models.UniqueConstraint(fields=["photo", "stock_image"], name="uniq_suggestion_photo_stock"),
            models.UniqueConstraint(fields=["photo", "rank"], name="uniq_suggestion_photo_rank"),
        ]


class FeedbackPair(models.Model):
    """A seller accepted `stock_image` as the catalogue image of the garment in `photo`: a new street-to-shop training
    pair. The next training run exports these into its manifest (workers/stages/training.py)."""

    photo = models.ForeignKey(ListingPhoto, on_delete=models.CASCADE, related_name="feedback_pairs")
    stock_image = models.ForeignKey(StockImage, on_delete=models.CASCADE, related_name="feedback_pairs")
    garment_type = models.CharField(max_length=16, choices=GarmentType.choices, default=GarmentType.TOP)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["photo", "stock_image"], name="uniq_feedback_photo_stock"),
        ]

    def __str__(self) -> str:
        return f"FeedbackPair photo {self.photo_id} -> stock image {self.stock_image_id}"
