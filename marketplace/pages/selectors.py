"""Reads behind the seller and buyer pages (HackSoft selectors): each returns rows scoped to the user who may see
them, with what the templates show prefetched, so a page is a handful of queries however many photos it has."""
from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from marketplace.catalogue.models import Item, StockImage
from marketplace.jobs.models import ImageJob
from marketplace.listings.models import Listing, ListingPhoto, Suggestion
from marketplace.shopping.models import Recommendation, SearchQuery


def listing_get_for_seller(*, seller, pk: int) -> Listing:
    """The seller's own listing, or 404 (another seller's listing is not found, as in the API)."""
    return get_object_or_404(Listing, pk=pk, seller=seller)


def listing_photos_newest_first(*, listing: Listing) -> QuerySet[ListingPhoto]:
    """Newest photo first: the one just uploaded is at the top of the page, next to the upload form."""
    suggestions = Suggestion.objects.select_related("stock_image__item").order_by("rank")
    return (listing.photos.order_by("-id").select_related("job__generated")
            .prefetch_related(Prefetch("suggestions", queryset=suggestions)))


def listing_photo_get(*, job: ImageJob) -> ListingPhoto:
    return listing_photos_newest_first(listing=job.listing_photo.listing).get(pk=job.listing_photo_id)


def listing_catalogue_images(*, listing: Listing) -> QuerySet[StockImage]:
    return listing.catalogue_images.select_related("item").order_by("id")


def search_get_for_buyer(*, buyer, pk: int) -> SearchQuery:
    return get_object_or_404(SearchQuery.objects.select_related("job__generated"), pk=pk, buyer=buyer)


def search_recommendations(*, query: SearchQuery) -> QuerySet[Recommendation]:
    return (query.recommendations.order_by("rank").select_related("item")
            .prefetch_related(Prefetch("item__stock_images", queryset=StockImage.objects.order_by("id"))))


def searches_recent(*, buyer, limit: int = 10) -> QuerySet[SearchQuery]:
    return SearchQuery.objects.filter(buyer=buyer).select_related("job").order_by("-id")[:limit]


def job_get_for_owner(*, owner, pk: int) -> ImageJob:
    """A job its owner follows on a page; anyone else's is 404."""
    return get_object_or_404(ImageJob.objects.select_related("generated"), pk=pk, owner=owner)


def item_get_public(*, pk: int) -> Item:
    """A catalogue item page is public, like the stock images it shows."""
    return get_object_or_404(Item.objects.prefetch_related(
        Prefetch("stock_images", queryset=StockImage.objects.order_by("id"))), pk=pk)
