"""Rate limits for what is cheap to send and costly (or dangerous) to answer: password guesses (the one limit the
sign-in page shares: marketplace.accounts.throttling.LoginRateThrottle) and uploads.

Rates come from `settings.THROTTLE_RATES` (env `THROTTLE_LOGIN`, `THROTTLE_UPLOAD`) and are read at request time,
so tests and benchmarks can raise them. A refused request gets 429 with `Retry-After` and a reason. Counters live
in Django's cache (per process with the default local-memory cache; production points `CACHES` at Redis to share
them between gunicorn workers)."""
from rest_framework.exceptions import Throttled
from rest_framework.throttling import UserRateThrottle

from marketplace.accounts.throttling import SettingsRate


class UploadRateThrottle(SettingsRate, UserRateThrottle):
    """Photo uploads per user: each one costs an image check, a stored file and a GPU job."""

    scope = "upload"
    reason = "too many photo uploads"


class ThrottleReasonMixin:
    """For an APIView: the 429 names which limit was hit (DRF adds "Expected available in N seconds" and the
    Retry-After header)."""

    def check_throttles(self, request):
        for throttle in self.get_throttles():
            if not throttle.allow_request(request, self):
                raise Throttled(throttle.wait(), detail=f"{getattr(throttle, 'reason', 'too many requests')}.")
