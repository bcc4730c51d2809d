"""Refuse an oversized request body before Django reads it.

`check_image_upload` refuses a large file too, but only after the whole body has been received and spooled to disk.
Here a request that announces a body larger than the upload limit (plus room for the form's other fields) gets a
413 with a reason at once. Production should also set the proxy's body limit (nginx `client_max_body_size`)."""
from django.conf import settings
from django.http import JsonResponse

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
            return JsonResponse({"detail": f"the request is {length / 1e6:.1f} MB; uploads are limited to "
                                           f"{settings.UPLOAD_MAX_BYTES / 1e6:.0f} MB"}, status=413)
        return self.get_response(request)
