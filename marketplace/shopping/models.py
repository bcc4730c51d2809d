from django.conf import settings
from django.db import models

from marketplace.catalogue.models import GarmentType, Item
from marketplace.media_names import RandomName


class SearchQuery(models.Model):
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="search_queries")
    # Private to the buyer and staff (marketplace.media_access finds the row by this indexed name).
    image = models.ImageField(upload_to=RandomName("search-photos"), db_index=True)
    garment_type = models.CharField(max_length=16, choices=GarmentType.choices, default=GarmentType.TOP)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]


class Recommendation(models.Model):
    query = models.ForeignKey(SearchQuery, on_delete=models.CASCADE, related_name="recommendations")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="recommendations")
    rank = models.PositiveSmallIntegerField()
    score = models.FloatField()
    low_confidence = models.BooleanField(default=False, help_text="not a confident match (the job's confidence gate)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["query_id", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["query", "item"], name="uniq_recommendation_query_item"),
            models.UniqueConstraint(fields=["query", "rank"], name="uniq_recommendation_query_rank"),
        ]
