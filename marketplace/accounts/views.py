"""The sign-in page with the same password-guess limit as the API's token login."""
from django.contrib.auth.views import LoginView

from .throttling import LoginRateThrottle


class ThrottledLoginView(LoginView):
    """Django's LoginView; a POST past the limit (per username and address) gets 429 with Retry-After."""

    def post(self, request, *args, **kwargs):
        throttle = LoginRateThrottle()
        if not throttle.allow_request(request, self):
            wait = int(throttle.wait() or 0) + 1
            form = self.get_form()
            form.add_error(None, f"{throttle.reason.capitalize()}; try again in {wait} seconds.")
            response = self.form_invalid(form)  # the sign-in page again, with the reason, without checking
            response.status_code = 429
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)
