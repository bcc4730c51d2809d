from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from marketplace.catalogue.models import GarmentType
from marketplace.listings import services as listing_services
from marketplace.listings.models import Listing, Suggestion
from marketplace.shopping import services as shopping_services
from marketplace.shopping.models import SearchQuery
from marketplace.uploads import UploadRejected


def home(request):
    return render(request, "pages/home.html")


@login_required
def listings(request):
    if request.method == "POST":
        title = request.POST.get("title", "").strip()
        garment = request.POST.get("garment_type", GarmentType.TOP)
        if not title or garment not in GarmentType.values:
            messages.error(request, "a listing needs a title and a garment type")
        else:
            listing = listing_services.listing_create(seller=request.user, title=title, garment_type=garment)
            return redirect("listing-page", pk=listing.pk)
    rows = Listing.objects.filter(seller=request.user)
    return render(request, "pages/listings.html", {"listings": rows, "garments": GarmentType.choices})


@login_required
def listing_detail(request, pk):
    listing = get_object_or_404(Listing, pk=pk, seller=request.user)
    if request.method == "POST":
        try:
            listing_services.listing_photo_create(listing=listing, upload=request.FILES.get("image"))
            messages.success(request, "photo uploaded: the stock image is being made")
        except UploadRejected as exc:
            messages.error(request, f"upload refused: {exc.reason}")
        return redirect("listing-page", pk=pk)
    photos = listing.photos.select_related("job__generated").prefetch_related("suggestions__stock_image__item")
    busy = any(getattr(p, "job", None) and p.job.state not in ("done", "failed") for p in photos)
    return render(request, "pages/listing_detail.html", {"listing": listing, "photos": photos, "busy": busy})


@login_required
@require_POST
def suggestion_decide(request, pk, decision):
    sug = get_object_or_404(Suggestion, pk=pk, photo__listing__seller=request.user)
    (listing_services.suggestion_accept if decision == "accept" else listing_services.suggestion_reject)(sug)
    return redirect("listing-page", pk=sug.photo.listing_id)


@login_required
def search(request):
    if request.method == "POST":
        garment = request.POST.get("garment_type", GarmentType.TOP)
        try:
            query, _ = shopping_services.search_query_create(buyer=request.user, upload=request.FILES.get("image"),
                                                             garment_type=garment if garment in GarmentType.values else "top")
            return redirect("search-page", pk=query.pk)
        except UploadRejected as exc:
            messages.error(request, f"upload refused: {exc.reason}")
    return render(request, "pages/search.html", {"garments": GarmentType.choices,
                                                 "queries": SearchQuery.objects.filter(buyer=request.user)[:10]})


@login_required
def search_detail(request, pk):
    query = get_object_or_404(SearchQuery.objects.select_related("job__generated"), pk=pk, buyer=request.user)
    recs = query.recommendations.select_related("item").prefetch_related("item__stock_images")
    busy = query.job.state not in ("done", "failed")
    return render(request, "pages/search_detail.html", {"query": query, "recommendations": recs, "busy": busy})
