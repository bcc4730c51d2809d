"""Who may use the console: staff. Anonymous visitors are sent to log in; a logged-in non-staff user gets 403 (they
are who they say, and the answer for them will not change by logging in again)."""
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied


def staff_required(view):
    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("the staff console is for staff")
        return view(request, *args, **kwargs)

    return wrapped
