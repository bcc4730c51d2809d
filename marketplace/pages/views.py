"""The seller and buyer pages. Views stay thin: reads come from `selectors`, writes from the apps' services, and
what a job's progress looks like from `progress`; a running job is followed by static/pages/live-job.js through
`job_progress_json`, so no page reloads itself."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseForbidden, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from marketplace.accounts.roles import CANNOT_SELL_REASON, user_can_sell
from marketplace.garments import GarmentType
from marketplace.listings import services as listing_services
from marketplace.listings.models import Listing, Suggestion
from marketplace.shopping import services as shopping_services
from marketplace.uploads import UploadRejected, upload_limit_text

from . import selectors
from .progress import job_progress


def home(request):
    return render(request, "pages/home.html")


@login_required
def listings(request):
    if request.method == "POST":
        if not user_can_sell(request.user):
            return HttpResponseForbidden(CANNOT_SELL_REASON)
        title = request.POST.get("title", "").strip()
        garment = request.POST.get("garment_type", GarmentType.TOP)
        if len(title) > 200:
            messages.error(request, "a listing title is at most 200 characters")
        elif not title or garment not in GarmentType.values:
            messages.error(request, "a listing needs a title and a garment type")
        else:
            listing = listing_services.listing_create(seller=request.user, title=title, garment_type=garment)
            return redirect("listing-page", pk=listing.pk)
    rows = Listing.objects.filter(seller=request.user)
    return render(request, "pages/listings.html", {"listings": rows, "garments": GarmentType.choices,
                                                   "can_sell": user_can_sell(request.user),
                                                   "cannot_sell_reason": CANNOT_SELL_REASON})


@login_required
def listing_detail(request, pk):
    listing = selectors.listing_get_for_seller(seller=request.user, pk=pk)
    if request.method == "POST":
        try:
            listing_services.listing_photo_create(listing=listing, upload=request.FILES.get("image"))
            messages.success(request, "photo uploaded: the stock image is being made")
        except UploadRejected as exc:
            messages.error(request, f"upload refused: {exc.reason}")
        return redirect("listing-page", pk=pk)
    return render(request, "pages/listing_detail.html", {
        "listing": listing, "photos": selectors.listing_photos_newest_first(listing=listing),
        "catalogue_images": selectors.listing_catalogue_images(listing=listing), "upload_limit": upload_limit_text()})


@login_required
@require_POST
def suggestion_decide(request, pk, decision):
    sug = get_object_or_404(Suggestion, pk=pk, photo__listing__seller=request.user)
    (listing_services.suggestion_accept if decision == "accept" else listing_services.suggestion_reject)(sug)
    return redirect(reverse("listing-page", args=[sug.photo.listing_id]) + f"#photo-{sug.photo_id}")


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
    return render(request, "pages/search.html", {"garments": GarmentType.choices, "upload_limit": upload_limit_text(),
                                                 "queries": selectors.searches_recent(buyer=request.user)})


@login_required
def search_detail(request, pk):
    query = selectors.search_get_for_buyer(buyer=request.user, pk=pk)
    return render(request, "pages/search_detail.html",
                  {"query": query, "recommendations": selectors.search_recommendations(query=query)})


@require_GET
def job_progress_json(request, pk):
    """A running job as its owner's page shows it: state, stages with timings, warnings, the confidence verdict,
    and the two page fragments (status, body) rendered from the page's own templates. Owner only: anyone else,
    signed in or not, gets 404, as for the job's photo."""
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "sign in to follow a job"}, status=401)
    job = selectors.job_get_for_owner(owner=request.user, pk=pk)
    progress = job_progress(job)
    if job.listing_photo_id:
        body = render_to_string("pages/_listing_photo_body.html",
                                {"photo": selectors.listing_photo_get(job=job)}, request=request)
    else:
        query = job.search_query
        body = render_to_string("pages/_search_body.html", {
            "query": query, "recommendations": selectors.search_recommendations(query=query)}, request=request)
    data = {**progress.as_dict(), "status_html": render_to_string("pages/_job_status.html", {"p": progress}),
            "body_html": body}
    response = JsonResponse(data)
    response["Cache-Control"] = "no-store"
    return response


def item_detail(request, pk):
    """A catalogue item's public page: what a buyer's result card links to."""
    return render(request, "pages/item_detail.html", {"item": selectors.item_get_public(pk=pk)})
