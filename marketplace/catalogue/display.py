"""How catalogue data is shown to people: one place for titles and prices, used by the pages (and open to the API).

Seeded items carry an internal SKU at the end of their title (`Blue striped tee [synth-0-3]`, see
devtools/catalogue_seed.py) so that seeding stays idempotent; people never need to see it."""
from __future__ import annotations

import re
from decimal import Decimal

from django.conf import settings

_SKU_SUFFIX = re.compile(r"\s*\[[A-Za-z0-9][A-Za-z0-9_.:-]*\]\s*$")
_CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}


def display_title(title: str) -> str:
    """The title without a trailing internal SKU in square brackets."""
    return _SKU_SUFFIX.sub("", title or "").strip() or (title or "")


def price_text(amount, currency: str | None = None) -> str:
    """`€23.99` (a known symbol) or `23.99 CHF` (the ISO code); empty for no price."""
    if amount is None or amount == "":
        return ""
    code = (currency or settings.MARKETPLACE_CURRENCY).upper()
    value = f"{Decimal(amount):,.2f}"
    symbol = _CURRENCY_SYMBOLS.get(code)
    return f"{symbol}{value}" if symbol else f"{value} {code}"
