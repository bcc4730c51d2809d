"""Give files stored before random names (`generated/2026/11/job13_input.png`, a client's `poly.html`) a random
name with the extension of their sniffed format.

Why: the media view already refuses them to everyone but their owner and staff, but a guessable name is one
misconfigured proxy away from the old leak. This is a maintenance step (`manage.py rename_legacy_media`), run once
after upgrading and while no training run is exporting feedback pairs (a manifest written earlier holds the old
paths). It scans each table once; the request path never does.

Each file is copied to its new name first, then the row is switched with a conditional UPDATE (only if it still
holds the old name), then the old file is removed: a crash leaves at worst an orphan copy, never a row pointing
at nothing. Rows whose job is still queued or running are left for a later run (a worker may be reading them).
"""
from __future__ import annotations

import logging
import re

from django.core.files.storage import default_storage

from marketplace.jobs.models import GeneratedImage, ImageJob
from marketplace.listings.models import ListingPhoto
from marketplace.media_access import sniffed_content_type
from marketplace.media_names import FORMATS, RandomName
from marketplace.shopping.models import SearchQuery

log = logging.getLogger(__name__)

RANDOM_STEM = re.compile(r"^[0-9a-f]{32}(\.[a-z]+)?$")
UNFINISHED = [ImageJob.State.PENDING, *ImageJob.ACTIVE_STATES]
# (model, field, folder, how the row reaches its job)
FIELDS = [
    (ListingPhoto, "image", "listing-photos", "job"),
    (SearchQuery, "image", "search-photos", "job"),
    (GeneratedImage, "image", "generated", "job"),
    (GeneratedImage, "stage1_image", "generated", "job"),
    (GeneratedImage, "preprocessed_image", "generated", "job"),
]


def is_random_name(name: str) -> bool:
    return bool(RANDOM_STEM.match(name.rsplit("/", 1)[-1]))


def _extension(name: str) -> str | None:
    with default_storage.open(name, "rb") as fh:
        content_type = sniffed_content_type(fh)
    return next((ext for ct, ext in FORMATS.values() if ct == content_type), None)


def media_rename_legacy() -> dict:
    """Rename every legacy file of a finished job; returns counts: renamed, skipped (missing, not an image, or the
    row changed meanwhile). Rows of unfinished jobs are not counted: the next run takes them."""
    counts = {"renamed": 0, "skipped": 0}
    for model, field, folder, job in FIELDS:
        rows = (model.objects.exclude(**{field: ""}).exclude(**{f"{job}__state__in": UNFINISHED})
                .values_list("pk", field))
        for pk, old in rows.iterator():
            if is_random_name(old):
                continue
            try:
                ext = _extension(old)
            except (FileNotFoundError, IsADirectoryError, PermissionError):
                ext = None
            if ext is None:
                log.warning("%s %s.%s: %s is missing or not an image; left as it is", model.__name__, pk, field, old)
                counts["skipped"] += 1
                continue
            with default_storage.open(old, "rb") as fh:
                new = default_storage.save(RandomName(folder)(None, "x" + ext), fh)
            if model.objects.filter(pk=pk, **{field: old}).update(**{field: new}):
                default_storage.delete(old)
                counts["renamed"] += 1
            else:  # the row changed meanwhile (a re-run wrote new files): keep its files, drop the copy
                default_storage.delete(new)
                counts["skipped"] += 1
    return counts
