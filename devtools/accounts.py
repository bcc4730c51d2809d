"""Accounts for the demo, the drills and the benchmarks: a user with a role and an API token, made on the spot.
Needs Django set up (the management commands and the tests have it); `devtools.demo`, the HTTP client, does not."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from marketplace.accounts.roles import role_assign


def user_token(username: str, staff: bool = False, role: str | None = None) -> str:
    """A token for `username` (created if missing) with the role `seller` or `buyer`, if given."""
    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": staff})
    if role:
        role_assign(user, role)
    return Token.objects.get_or_create(user=user)[0].key
