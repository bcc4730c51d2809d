"""Seller and buyer roles, kept as Django groups.

Why groups rather than a profile model: they need no migration and no row per user, the Django admin already edits
them, and `user.groups` is one query. The groups are created on first use, so a flushed test database or a fresh
install needs no data migration.

The rules: sellers (and staff) create listings; everyone signed in may search, sellers included (a seller is also
a shopper, and searching reveals nothing of anyone's listings). Staff can do everything a seller can, so
`createsuperuser` gives a working operator account without a role.
"""
from __future__ import annotations

from django.contrib.auth.models import Group

SELLER = "seller"
BUYER = "buyer"
ROLES = (SELLER, BUYER)
_GROUP = {SELLER: "sellers", BUYER: "buyers"}

CANNOT_SELL_REASON = "only sellers can create listings; ask an operator to give your account the seller role"


def role_assign(user, role: str) -> None:
    """Give `user` the role (idempotent)."""
    if role not in _GROUP:
        raise ValueError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")
    group, _ = Group.objects.get_or_create(name=_GROUP[role])
    user.groups.add(group)


def role_remove(user, role: str) -> None:
    user.groups.remove(*user.groups.filter(name=_GROUP[role]))


def user_has_role(user, role: str) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return user.groups.filter(name=_GROUP[role]).exists()


def user_can_sell(user) -> bool:
    """Sellers and staff create listings and upload listing photos."""
    return bool(getattr(user, "is_authenticated", False) and (user.is_staff or user_has_role(user, SELLER)))
