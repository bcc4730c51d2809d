from django.conf import settings
from django.db import models

from marketplace.catalogue.models import Item
from marketplace.media_names import RandomName
from marketplace.photos import PhotoMatch, UploadedPhoto


class SearchQuery(UploadedPhoto):
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="search_queries")
    # Private to the buyer and staff (marketplace.media_access finds the row by this indexed name).
    image = models.ImageField(upload_to=RandomName("search-photos"), db_index=True)

    class Meta:
        ordering = ["-id"]


class Recommendation(PhotoMatch):
    query = models.ForeignKey(SearchQuery, on_delete=models.CASCADE, related_name="recommendations")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="recommendations")

    class Meta:
        ordering = ["query_id", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["query", "item"], name="uniq_recommendation_query_item"),
            models.UniqueConstraint(fields=["query", "rank"], name="uniq_recommendation_query_rank"),
        ]
