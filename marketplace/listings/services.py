"""Listing use cases: create a listing, add a photo (which starts a job), write and act on suggestions, and export
accepted suggestions as training pairs."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Callable, Collection, Sequence

from django.conf import settings
from django.db import transaction

from marketplace.garments import GarmentType
from marketplace.jobs.photo_jobs import SearchHit, job_create
from marketplace.photos import uploaded_photo_store

from .models import FeedbackPair, Listing, ListingPhoto, Suggestion

log = logging.getLogger(__name__)


def listing_create(*, seller, title: str, garment_type: str = GarmentType.TOP, price=None) -> Listing:
    """The caller checks the seller role (marketplace.accounts.roles.user_can_sell) and validates the fields."""
    return Listing.objects.create(seller=seller, title=title, garment_type=garment_type, price=price)


def listing_photo_create(*, listing: Listing, upload, garment_type: str | None = None):
    """Store the photo and its job in one transaction; the job is published on commit. Raises UploadRejected."""
    garment = garment_type or listing.garment_type
    return uploaded_photo_store(
        ListingPhoto(listing=listing, garment_type=garment), upload,
        lambda photo: job_create(owner_id=listing.seller_id, garment_type=garment, listing_photo=photo))


def suggestions_replace(results: Sequence[tuple[ListingPhoto, list[SearchHit], Callable[[float], bool]]],
                        limit: int, first: Collection[int] = ()) -> list[Suggestion]:
    """Replace each photo's suggestions with its ranked hits, keeping a seller's earlier accept/reject decisions.
    `results`: (photo, hits, low_confidence), where low_confidence(score) marks rows that are not confident matches.

    Call inside the transaction that finishes the jobs: delete + insert there makes a re-run exactly-once. All the
    photos of a batch take one read, one insert, and a delete only where a photo had suggestions. `first`: photos
    known to have none (their job's first run: marketplace.jobs.completion), not read."""
    known = [photo.pk for photo, _, _ in results if photo.pk not in first]
    earlier = list(Suggestion.objects.filter(photo_id__in=known).values_list("photo_id", "stock_image_id", "status")
                   ) if known else []
    decided = {(pid, sid): status for pid, sid, status in earlier if status != Suggestion.Status.PROPOSED}
    if earlier:
        Suggestion.objects.filter(photo_id__in={pid for pid, _, _ in earlier}).delete()
    rows = []
    for photo, hits, low_confidence in results:
        seen: set[int] = set()
        for hit in hits:
            if hit.stock_image_id in seen:
                continue
            seen.add(hit.stock_image_id)
            rows.append(Suggestion(photo=photo, stock_image_id=hit.stock_image_id, rank=len(seen), score=hit.score,
                                   status=decided.get((photo.pk, hit.stock_image_id), Suggestion.Status.PROPOSED),
                                   low_confidence=bool(low_confidence(hit.score))))
            if len(seen) == limit:
                break
    return Suggestion.objects.bulk_create(rows)


def suggestion_accept(suggestion: Suggestion) -> Suggestion:
    """Accepting adds the stock image to the listing's catalogue images and records the (photo, stock image) pair
    as feedback for the next training run."""
    with transaction.atomic():
        suggestion.status = Suggestion.Status.ACCEPTED
        suggestion.save(update_fields=["status"])
        suggestion.photo.listing.catalogue_images.add(suggestion.stock_image)
        FeedbackPair.objects.get_or_create(photo=suggestion.photo, stock_image=suggestion.stock_image,
                                           defaults={"garment_type": suggestion.photo.garment_type})
    return suggestion


def suggestion_reject(suggestion: Suggestion) -> Suggestion:
    """Rejecting removes the stock image from the listing and withdraws the feedback pair of an earlier accept."""
    with transaction.atomic():
        suggestion.status = Suggestion.Status.REJECTED
        suggestion.save(update_fields=["status"])
        suggestion.photo.listing.catalogue_images.remove(suggestion.stock_image)
        FeedbackPair.objects.filter(photo=suggestion.photo, stock_image=suggestion.stock_image).delete()
    return suggestion


# --- feedback for training ---------------------------------------------------------------------------------------
def feedback_manifest_rows() -> list[dict]:
    """Every feedback pair as a training-manifest row (the format of `imagegen.offline.data`: `photo`, `stock`,
    `item_id`, `garment`, `split`), with absolute paths and `item_id` = `item-<Item pk>`, all in split `train`. Pairs whose
    files are missing are left out (logged)."""
    rows = []
    pairs = FeedbackPair.objects.select_related("photo", "stock_image").order_by("pk")
    for pair in pairs.iterator():
        try:
            photo, stock = Path(pair.photo.image.path), Path(pair.stock_image.image.path)
        except (NotImplementedError, ValueError) as exc:  # a storage without local paths, or an empty file field
            log.warning("feedback pair %s skipped: %s", pair.pk, exc)
            continue
        if not (photo.is_file() and stock.is_file()):
            log.warning("feedback pair %s skipped: a file is missing (%s, %s)", pair.pk, photo, stock)
            continue
        rows.append({"photo": str(photo.resolve()), "stock": str(stock.resolve()),
                     "item_id": f"item-{pair.stock_image.item_id}", "garment": pair.garment_type, "split": "train"})
    return rows


def feedback_export(path: str | os.PathLike) -> int:
    """Write the feedback pairs as a JSONL manifest at `path` (replaced atomically); returns the number of rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = feedback_manifest_rows()
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return len(rows)


def jobs_results_write(results, first: Collection[int] = ()) -> None:
    """Finished listing-photo jobs' results, (job, hits, low_confidence) each; `first`: ids of jobs on their first
    run (registered with marketplace.jobs.completion in ListingsConfig.ready)."""
    suggestions_replace([(job.listing_photo, hits, low) for job, hits, low in results],
                        limit=settings.SUGGESTIONS_PER_PHOTO,
                        first={job.listing_photo_id for job, _, _ in results if job.pk in first})
