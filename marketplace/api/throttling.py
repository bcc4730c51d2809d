"""Rate limits for what is cheap to send and costly (or dangerous) to answer: password guesses and uploads.

Rates come from `settings.THROTTLE_RATES` (env `THROTTLE_LOGIN`, `THROTTLE_UPLOAD`) and are read at request time,
so tests and benchmarks can raise them. A refused request gets 429 with `Retry-After` and a reason. Counters live
in Django's cache (per process with the default local-memory cache; production points `CACHES` at Redis to share
them between gunicorn workers)."""
from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle


class _SettingsRate:
    def get_rate(self):
        return settings.THROTTLE_RATES[self.scope]


class LoginRateThrottle(_SettingsRate, SimpleRateThrottle):
    """Password attempts per (username, client address): guessing one account's password is slowed down, and one
    noisy address cannot lock a real user out from elsewhere."""

    scope = "login"
    reason = "too many sign-in attempts for this account from your address"

    def get_cache_key(self, request, view):
        data = getattr(request, "data", None)
        if data is None or not hasattr(data, "get"):
            data = request.POST
        username = str(data.get("username") or "")[:150].strip().lower()
        return self.cache_format % {"scope": self.scope, "ident": f"{self.get_ident(request)}:{username}"}


class UploadRateThrottle(_SettingsRate, UserRateThrottle):
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
