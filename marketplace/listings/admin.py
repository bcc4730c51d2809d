from django.contrib import admin

from .models import FeedbackPair, Listing, ListingPhoto, Suggestion


class ListingPhotoInline(admin.TabularInline):
    model = ListingPhoto
    extra = 0


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "seller", "garment_type", "created_at"]
    inlines = [ListingPhotoInline]


@admin.register(ListingPhoto)
class ListingPhotoAdmin(admin.ModelAdmin):
    list_display = ["id", "listing", "garment_type", "width", "height", "created_at"]


@admin.register(Suggestion)
class SuggestionAdmin(admin.ModelAdmin):
    list_display = ["id", "photo", "stock_image", "rank", "score", "low_confidence", "status"]
    list_filter = ["status", "low_confidence"]


@admin.register(FeedbackPair)
class FeedbackPairAdmin(admin.ModelAdmin):
    list_display = ["id", "photo", "stock_image", "garment_type", "created_at"]
