"""The limit on password guesses, shared by the sign-in page (accounts.views) and the API's token login. How rates
are read and where counters live: marketplace.api.throttling, which has the API's other limits."""
from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class SettingsRate:
    """A DRF throttle whose rate is `settings.THROTTLE_RATES[scope]`, read at request time."""

    def get_rate(self):
        return settings.THROTTLE_RATES[self.scope]


class LoginRateThrottle(SettingsRate, SimpleRateThrottle):
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
