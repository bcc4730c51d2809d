from django.contrib import admin

from .models import Recommendation, SearchQuery


@admin.register(SearchQuery)
class SearchQueryAdmin(admin.ModelAdmin):
    list_display = ["id", "buyer", "garment_type", "created_at"]


@admin.register(Recommendation)
class RecommendationAdmin(admin.ModelAdmin):
    list_display = ["id", "query", "item", "rank", "score"]
