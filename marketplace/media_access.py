"""Who may fetch which file under MEDIA_URL, and how it is sent.

Every photo a user uploads and every image made from it is private; only the catalogue is public:

| stored name starts with | owning row (looked up by the indexed file name)                          | served to            |
|-------------------------|--------------------------------------------------------------------------|----------------------|
| `stock/`                | a catalogue stock image (no lookup: the folder holds nothing else)       | anyone               |
| `listing-photos/`       | `ListingPhoto.image`                                                     | the listing's seller, staff |
| `search-photos/`        | `SearchQuery.image`                                                      | the buyer, staff     |
| `generated/`            | `GeneratedImage.image`, `.stage1_image`, `.preprocessed_image`           | the job's owner, staff |
| anything else, `..`, `\\`, NUL, a name no row has | -                                              | nobody               |

Refusals are all **404**, for anonymous clients too: a 403 would confirm that the file exists (the same rule as the
API, where another user's listing is simply not found). Credentials are the API's (token or session), so a URL
the API returns opens for the client that asked.

Sending: the type comes from sniffing the file's header with Pillow, never from its name, and a file that does not
sniff as one of the upload formats is not served at all; `X-Content-Type-Options: nosniff`, `Content-Disposition:
inline` and a `sandbox` Content-Security-Policy make even a PNG with a `<script>` appended inert. Private files are
`Cache-Control: private` and `Cross-Origin-Resource-Policy: same-origin` (another site cannot probe them through
an `<img>` carrying the victim's cookies).

Offload: with `MEDIA_ACCEL_REDIRECT_PREFIX` set (e.g. `/protected-media/`), the answer is an empty response with
`X-Accel-Redirect: <prefix><name>` and nginx sends the bytes. Its location must be `internal` and `alias` MEDIA_ROOT;
on an internal redirect nginx keeps only a few upstream headers (Content-Type, Content-Disposition, Cache-Control,
Set-Cookie, ...), so it must add the others itself: `add_header X-Content-Type-Options nosniff;`, `add_header
Content-Security-Policy $upstream_http_content_security_policy;` and likewise for Cross-Origin-Resource-Policy; and
`types { } default_type application/octet-stream;` there keeps the file's extension from ever choosing a type.
Without it (the default, and docker-compose today: gunicorn answers directly) the file is streamed by
`FileResponse`, which gunicorn sends with sendfile.
"""
from __future__ import annotations

import logging
import urllib.parse

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponse
from drf_spectacular.utils import extend_schema
from PIL import Image, UnidentifiedImageError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from marketplace.jobs.models import GeneratedImage
from marketplace.listings.models import ListingPhoto
from marketplace.media_names import FORMATS
from marketplace.shopping.models import SearchQuery

log = logging.getLogger(__name__)

PUBLIC_FOLDERS = ("stock",)
CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
PRIVATE_CACHE = "private, max-age=3600"
PUBLIC_CACHE = "public, max-age=86400"


# --- the rule table, as code ---------------------------------------------------------------------------------------
def _first(owner_ids):
    """The first owner id, without `.first()`'s ORDER BY (a sort the single-row index lookup does not need)."""
    return next(iter(owner_ids.order_by()[:1]), None)


def _owner_of_listing_photo(name: str):
    return _first(ListingPhoto.objects.filter(image=name).values_list("listing__seller_id", flat=True))


def _owner_of_search_photo(name: str):
    return _first(SearchQuery.objects.filter(image=name).values_list("buyer_id", flat=True))


def _owner_of_generated_image(name: str):
    rows = GeneratedImage.objects.filter(Q(image=name) | Q(stage1_image=name) | Q(preprocessed_image=name))
    return _first(rows.values_list("job__owner_id", flat=True))  # SQLite: a MULTI-INDEX OR over the three columns


PRIVATE_FOLDERS = {
    "listing-photos": _owner_of_listing_photo,
    "search-photos": _owner_of_search_photo,
    "generated": _owner_of_generated_image,
}


def clean_media_name(name: str) -> str | None:
    """The storage name a URL asks for, or None when it could step outside MEDIA_ROOT or is not a plain name."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return None
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return None
    return name


def media_is_public(name: str) -> bool:
    return name.split("/", 1)[0] in PUBLIC_FOLDERS


def media_readable_by(name: str, user) -> bool:
    """Whether `user` (possibly anonymous) may read the stored file `name`: one indexed lookup for private files."""
    folder = name.split("/", 1)[0]
    if folder in PUBLIC_FOLDERS:
        return True
    owner_of = PRIVATE_FOLDERS.get(folder)
    if owner_of is None or not (user and user.is_authenticated):
        return False
    owner_id = owner_of(name)
    if owner_id is None:
        return False
    return user.is_staff or owner_id == user.pk


def sniffed_content_type(fh) -> str | None:
    """Content-Type from the file's header (Pillow reads only the header), or None if it is not an upload format."""
    try:
        with Image.open(fh) as im:
            fmt = im.format
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    finally:
        fh.seek(0)
    return FORMATS.get(fmt, (None,))[0]


# --- the view ------------------------------------------------------------------------------------------------------
class _AnyAccept(BaseContentNegotiation):
    """An <img> asks for `image/*`; the answer is a file, so the Accept header never turns it into a 406."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class MediaFileView(APIView):
    """GET/HEAD /media/<name>: the file if the rule table lets this client read it, else 404 (see module doc)."""

    permission_classes = [AllowAny]  # the rule table decides, per file
    throttle_classes = []  # a page shows a dozen images; each costs a header sniff, no job
    renderer_classes = [JSONRenderer]  # refusals are JSON, never HTML
    content_negotiation_class = _AnyAccept
    http_method_names = ["get", "head"]

    @extend_schema(exclude=True)
    def get(self, request, name: str):
        name = clean_media_name(name)
        if name is None or not media_readable_by(name, request.user):
            raise Http404
        try:
            fh = default_storage.open(name, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            raise Http404 from None
        content_type = sniffed_content_type(fh)
        if content_type is None:
            fh.close()
            log.warning("media %s is not an image it could be served as; refused", name)
            raise Http404
        public = media_is_public(name)
        prefix = getattr(settings, "MEDIA_ACCEL_REDIRECT_PREFIX", "")
        if prefix:
            fh.close()
            response = HttpResponse(content_type=content_type)
            response["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + urllib.parse.quote(name)
        else:
            response = FileResponse(fh, content_type=content_type)
        response["Content-Disposition"] = "inline"
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = CSP
        response["Cache-Control"] = PUBLIC_CACHE if public else PRIVATE_CACHE
        if not public:
            response["Cross-Origin-Resource-Policy"] = "same-origin"
            response["Vary"] = "Cookie, Authorization"
        return response


media_file = MediaFileView.as_view()
