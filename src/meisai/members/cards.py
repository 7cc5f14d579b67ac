"""Card numbers: the only module that ever holds a whole card number.

A card number is never stored whole. meisai keeps a keyed hash (HMAC-SHA256 with
``settings.CARD_HASH_KEY``) for matching and the last four digits for display. Whatever a card
number passes through (import errors, forms, logs) shows it masked.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

from meisai.core.text import normalize_digits


def normalize_card_number(raw: str) -> str:
    """Half-width digits only: full-width digits converted, hyphens and spaces removed."""
    return normalize_digits(raw)


def is_card_number(digits: str) -> bool:
    return digits.isascii() and digits.isdigit() and 14 <= len(digits) <= 16


def card_hash(raw: str) -> str:
    """The keyed hash meisai matches cards on (64 hex characters)."""
    digits = normalize_card_number(raw)
    return hmac.new(settings.CARD_HASH_KEY.encode(), digits.encode(), hashlib.sha256).hexdigest()


def last_four(raw: str) -> str:
    return normalize_card_number(raw)[-4:]


def mask(raw_or_last4: str) -> str:
    """``****-****-****-1234``: the only form of a card number a person ever sees."""
    return f"****-****-****-{normalize_card_number(raw_or_last4)[-4:]}"
