"""Checking an uploaded photo before anything is stored or queued.

Pillow only (no ML imports): the web process rejects what the workers could never read, with a reason a user can
act on, and creates no job for it. The workers decode again with `imagegen.images.load_image`, which applies the
same limits, so nothing that passes here surprises them.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from marketplace.upload_decode import decode_check

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "MPO", "BMP", "TIFF", "GIF"}


def megabytes(size: int) -> str:
    """A size for people, in one unit everywhere (decimal MB, one decimal): 15 MiB is `15.7 MB`, never "15" or "16"."""
    return f"{size / 1e6:.1f} MB"


def upload_limit_text() -> str:
    """The upload limit as the pages, the API and the 413 responses all state it."""
    return megabytes(settings.UPLOAD_MAX_BYTES)


class UploadRejected(Exception):
    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason, self.status = reason, status


@dataclass(frozen=True)
class CheckedImage:
    width: int
    height: int
    format: str


def check_image_upload(upload) -> CheckedImage:
    """Validate an uploaded file (Django UploadedFile); raises UploadRejected with a reason and HTTP status."""
    if upload is None:
        raise UploadRejected("no image file was sent: use the multipart field 'image'")
    if upload.size == 0:
        raise UploadRejected("the uploaded file is empty")
    if upload.size > settings.UPLOAD_MAX_BYTES:
        raise UploadRejected(
            f"the file is {megabytes(upload.size)}; the limit is {upload_limit_text()}", status=413)
    try:
        upload.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload) as im:
                fmt, (w, h) = im.format, im.size
                if fmt not in ALLOWED_FORMATS:
                    raise UploadRejected(f"{fmt} images are not supported; send JPEG, PNG or WebP", status=415)
                if w * h > settings.UPLOAD_MAX_PIXELS:
                    raise UploadRejected(f"the image is {w}x{h} pixels; the limit is "
                                         f"{settings.UPLOAD_MAX_PIXELS / 1e6:.0f} megapixels", status=413)
                if min(w, h) < settings.UPLOAD_MIN_SIDE:
                    raise UploadRejected(f"the image is {w}x{h} pixels; each side must be at least "
                                         f"{settings.UPLOAD_MIN_SIDE} pixels")
                # Truncated or corrupt data fails here, not in the worker, in bounded memory (upload_decode).
                decode_check(im, upload)
    except UploadRejected:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise UploadRejected("the image is too large to decode safely", status=413) from None
    except UnidentifiedImageError:
        raise UploadRejected("the file is not an image we can read (corrupt, or not JPEG/PNG/WebP)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UploadRejected(f"the image is damaged and cannot be decoded ({exc})") from None
    finally:
        upload.seek(0)
    return CheckedImage(w, h, fmt)
