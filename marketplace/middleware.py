"""Refuse an oversized request body before Django reads it.

`check_image_upload` refuses a large file too, but only after the whole body has been received and spooled to disk.
Here a request that announces a body larger than the upload limit (plus room for the form's other fields) gets a
413 with a reason at once. Production should also set the proxy's body limit (nginx `client_max_body_size`).

A browser submitting a form gets the answer as a page in the site's layout with a way back (a bare JSON body would
strand the user outside the site); API clients keep the JSON. Both state the limit with `upload_limit_text`."""
from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from marketplace.uploads import megabytes, upload_limit_text

FORM_OVERHEAD_BYTES = 1024 * 1024


class RejectOversizedBody:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.UPLOAD_MAX_BYTES + FORM_OVERHEAD_BYTES
        if length > limit:
            reason = f"the request is {megabytes(length)}; uploads are limited to {upload_limit_text()}"
            if _wants_page(request):
                return _too_large_page(request, length)
            return JsonResponse({"detail": reason}, status=413)
        return self.get_response(request)


def _wants_page(request) -> bool:
    accept = request.META.get("HTTP_ACCEPT", "")
    return not request.path.startswith("/api/") and "text/html" in accept


def _too_large_page(request, length: int):
    """Rendered before the session and auth middleware ran: the page cannot know who is logged in, so its layout
    leaves the account links out. The link back is the form's page when the browser said where it came from."""
    back = request.META.get("HTTP_REFERER", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "/"
    return render(request, "pages/too_large.html", {"size": megabytes(length), "limit": upload_limit_text(),
                                                    "back": back, "hide_account": True}, status=413)
