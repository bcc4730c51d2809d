"""Listing use cases: create a listing, add a photo (which starts a job), write and act on suggestions."""
from __future__ import annotations

from django.db import transaction

from marketplace.jobs.services import SearchHit, job_create
from marketplace.uploads import check_image_upload

from .models import Listing, ListingPhoto, Suggestion


def listing_create(*, seller, title: str, garment_type: str, price=None) -> Listing:
    return Listing.objects.create(seller=seller, title=title, garment_type=garment_type, price=price)


def listing_photo_create(*, listing: Listing, upload, garment_type: str | None = None):
    """Store the photo and its job in one transaction; the job is published on commit. Raises UploadRejected."""
    checked = check_image_upload(upload)
    garment = garment_type or listing.garment_type
    with transaction.atomic():
        photo = ListingPhoto.objects.create(listing=listing, image=upload, garment_type=garment,
                                            width=checked.width, height=checked.height)
        job = job_create(owner=listing.seller, garment_type=garment, listing_photo=photo)
    return photo, job


def suggestions_replace(photo: ListingPhoto, hits: list[SearchHit], limit: int) -> list[Suggestion]:
    """Replace the photo's suggestions with the ranked hits, keeping a seller's earlier accept/reject decisions.

    Call inside the transaction that finishes the job: delete + insert there makes a re-run exactly-once."""
    decided = dict(photo.suggestions.exclude(status=Suggestion.Status.PROPOSED).values_list("stock_image_id", "status"))
    photo.suggestions.all().delete()
    seen, rows = set(), []
    for hit in hits:
        if hit.stock_image_id in seen:
            continue
        seen.add(hit.stock_image_id)
        rows.append(Suggestion(photo=photo, stock_image_id=hit.stock_image_id, rank=len(rows) + 1, score=hit.score,
                               status=decided.get(hit.stock_image_id, Suggestion.Status.PROPOSED)))
        if len(rows) == limit:
            break
    return Suggestion.objects.bulk_create(rows)


def suggestion_accept(suggestion: Suggestion) -> Suggestion:
    """Accepting adds the stock image to the listing's catalogue images."""
    with transaction.atomic():
        suggestion.status = Suggestion.Status.ACCEPTED
        suggestion.save(update_fields=["status"])
        suggestion.photo.listing.catalogue_images.add(suggestion.stock_image)
    return suggestion


def suggestion_reject(suggestion: Suggestion) -> Suggestion:
    with transaction.atomic():
        suggestion.status = Suggestion.Status.REJECTED
        suggestion.save(update_fields=["status"])
        suggestion.photo.listing.catalogue_images.remove(suggestion.stock_image)
    return suggestion
