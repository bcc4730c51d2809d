"""A photo someone uploads to be matched: a seller's listing photo (marketplace.listings) or a buyer's search photo
(marketplace.shopping). The fields both kinds of photo have, and both kinds of match their jobs write (suggestions,
recommendations), and the one way either photo is stored with the job that processes it."""
from __future__ import annotations

from typing import Callable, TypeVar

from django.db import models, transaction

from marketplace.garments import GarmentType
from marketplace.media_names import stored_upload_name
from marketplace.request_timing import timed_phase
from marketplace.uploads import check_image_upload


class UploadedPhoto(models.Model):
    """What a listing photo and a search photo share. Each declares its own `image` (its own private folder:
    marketplace.media_access finds the row by that indexed name)."""

    garment_type = models.CharField(max_length=16, choices=GarmentType.choices, default=GarmentType.TOP)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class PhotoMatch(models.Model):
    """One ranked result of a photo's search, as a listing photo's suggestion and a search's recommendation both
    keep it."""

    rank = models.PositiveSmallIntegerField()
    score = models.FloatField()
    low_confidence = models.BooleanField(default=False, help_text="not a confident match (the job's confidence gate)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


Photo = TypeVar("Photo", bound=UploadedPhoto)


def uploaded_photo_store(photo: Photo, upload, start_job: Callable[[Photo], object]) -> tuple[Photo, object]:
    """Check `upload`, store it as the unsaved `photo`'s image, and save the row with its job (`start_job(photo)`,
    which creates it: it is published on commit) in one transaction. Returns (photo, job); raises UploadRejected."""
    with timed_phase("validate"):
        checked = check_image_upload(upload)
    upload.name = stored_upload_name(checked.format)  # the client's name and extension are never stored
    photo.width, photo.height = checked.width, checked.height
    # The file is written before the transaction, so SQLite's one write lock is held for two rows, not for a disk
    # write too (issue #12's upload tail). A transaction that fails takes its file with it.
    with timed_phase("file"):
        photo.image.save(upload.name, upload, save=False)
    try:
        # `db`: waiting for the write lock (SQLite: one writer at a time) and the commit; `insert`: the two rows.
        with timed_phase("db"), transaction.atomic():
            with timed_phase("insert"):
                photo.save()
                job = start_job(photo)
    except BaseException:
        photo.image.delete(save=False)
        raise
    return photo, job
