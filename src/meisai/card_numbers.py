"""Card numbers: what counts as one, how a person sees one, and the keyed hash meisai matches on.

Every rule about card numbers lives here, and this is the only module that handles a whole one:

* **what counts as a card number**: 13 to 19 half-width digits, the lengths of ISO/IEC 7812
  payment card numbers (the issuer's own cards have 16; a member file or a typed number is
  checked against the same rule everywhere: import, registration, recovery);
* **normalisation**: full-width digits become half-width, hyphens and spaces go, so
  「４９８０－１２３４ ５６７８」 and ``49801234 5678`` are the same number;
* **the mask**: ``****-****-****-1234``, the only form in which a person ever sees one (pages,
  PDF, CSV, back office, import errors, logs);
* **the keyed hash**: a card number is never stored whole; meisai keeps HMAC-SHA256 with
  ``settings.CARD_HASH_KEY`` for matching and the last four digits for display;
* **in free text**: :data:`IN_TEXT` finds anything that could be a card number written with
  single hyphens or spaces, so logs and messages can mask it.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from django.conf import settings

from meisai.core.text import normalize_digits

#: The lengths of a card number (ISO/IEC 7812), in digits.
MIN_DIGITS = 13
MAX_DIGITS = 19

#: A card number inside text: MIN–MAX digits, single hyphens or spaces allowed between them, not
#: part of a longer number.
IN_TEXT = re.compile(rf"(?<![\d.,-])\d(?:[ -]?\d){{{MIN_DIGITS - 1},{MAX_DIGITS - 1}}}(?![\d])")


def normalize_card_number(raw: str) -> str:
    """Half-width digits only: full-width digits converted, hyphens and spaces removed."""
    return normalize_digits(raw)


def is_card_number(digits: str) -> bool:
    """Whether normalised ``digits`` are a card number (13–19 half-width digits)."""
    return digits.isascii() and digits.isdigit() and MIN_DIGITS <= len(digits) <= MAX_DIGITS


def card_hash(raw: str) -> str:
    """The keyed hash meisai matches cards on (64 hex characters)."""
    digits = normalize_card_number(raw)
    return hmac.new(settings.CARD_HASH_KEY.encode(), digits.encode(), hashlib.sha256).hexdigest()


def last_four(raw: str) -> str:
    return normalize_card_number(raw)[-4:]


def mask(raw_or_last4: str) -> str:
    """``****-****-****-1234``: the only form of a card number a person ever sees."""
    return f"****-****-****-{last_four(raw_or_last4)}"


def mask_in_text(text: str) -> str:
    """``text`` with every run that could be a card number masked."""
    return IN_TEXT.sub(lambda match: mask(match.group(0)), text)
