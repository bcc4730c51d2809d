"""What a stored image is called and what type it is served as.

Why random names: names built from the job id (`generated/…/job13_input.png`) let anyone enumerate every photo, and
a client's own name (`poly.html`) decided how the file was served back. Every photo and generated image is now
stored as `<folder>/<year>/<month>/<uuid4 hex><extension>`: 128 random bits, nothing taken from the client.

Why the extension comes from the sniffed format: the services rename an upload to `upload<ext>` of the format
Pillow found (`stored_upload_name`), the workers save `.png` files they encoded themselves, and `RandomName` keeps
only an extension from `EXTENSIONS`; anything else is stored without one. The extension is for people and for a
proxy's logs only: the media view (`marketplace.media_access`) sniffs the file again and takes the type from that.

`RandomName` is deconstructible so migrations can name it; existing rows keep their old names and still resolve.
"""
from __future__ import annotations

import posixpath
import uuid

from django.utils import timezone
from django.utils.deconstruct import deconstructible

# Pillow format -> (the Content-Type it is served with, the extension it is stored with). MPO is a JPEG with extra
# frames (phone cameras): browsers know it as image/jpeg.
FORMATS = {
    "JPEG": ("image/jpeg", ".jpg"),
    "MPO": ("image/jpeg", ".jpg"),
    "PNG": ("image/png", ".png"),
    "WEBP": ("image/webp", ".webp"),
    "GIF": ("image/gif", ".gif"),
    "BMP": ("image/bmp", ".bmp"),
    "TIFF": ("image/tiff", ".tif"),
}
EXTENSIONS = frozenset(ext for _, ext in FORMATS.values())


def stored_upload_name(image_format: str) -> str:
    """The name an upload is handed to storage under: only the sniffed format survives (`upload.png`)."""
    return "upload" + FORMATS.get(image_format, ("", ""))[1]


@deconstructible
class RandomName:
    """`upload_to` callable: `<folder>/%Y/%m/<uuid4 hex><ext>`, the extension kept only if it is an image one."""

    def __init__(self, folder: str):
        self.folder = folder.strip("/")

    def __call__(self, instance, filename: str) -> str:
        ext = posixpath.splitext(filename or "")[1].lower()
        if ext == ".jpeg":
            ext = ".jpg"
        return (f"{self.folder}/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"
                f"{ext if ext in EXTENSIONS else ''}")

    def __eq__(self, other) -> bool:
        return isinstance(other, RandomName) and other.folder == self.folder

    def __hash__(self) -> int:
        return hash((RandomName, self.folder))
