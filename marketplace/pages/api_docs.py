"""Redoc served entirely from this site.

drf-spectacular-sidecar ships Redoc's bundle, but the bundle itself hard-codes one image from its vendor's CDN (the
"API docs by Redocly" logo in the sidebar, `https://cdn.redoc.ly/redoc/logo-mini.svg`). Offline that request
fails, and on-line it tells a third party who reads our docs. This serves the sidecar's bundle with that one URL
pointed at the site's own icon; everything else is the sidecar's file, byte for byte."""
from __future__ import annotations

from functools import lru_cache

from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.templatetags.static import static

REDOC_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
VENDOR_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"


@lru_cache(maxsize=1)
def _redoc_bundle() -> bytes:
    path = finders.find(REDOC_BUNDLE)
    if not path:
        raise FileNotFoundError(f"{REDOC_BUNDLE} not found: is drf_spectacular_sidecar in INSTALLED_APPS?")
    with open(path, "rb") as fh:
        return fh.read().replace(VENDOR_LOGO, static("pages/favicon.svg").encode())


def redoc_script(request):
    response = HttpResponse(_redoc_bundle(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response
