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
  single hyphens or spaces, so logs can mask it (:func:`mask_in_text`, every such run: a log
  masks more rather than less); :func:`mask_card_numbers` masks, in the messages a person reads
  (import errors), every run of digits that holds a number passing the Luhn check, so that a
  card number typed into the wrong column is never shown whole, while a long amount or member
  number that cannot be a card stays readable.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from django.conf import settings

from meisai.core.text import normalize_digits

#: The lengths of a card number (ISO/IEC 7812), in digits.
MIN_DIGITS = 13
MAX_DIGITS = 19

#: A card number inside text: MIN–MAX digits, single hyphens or spaces allowed between them, not
#: part of a longer number.
IN_TEXT = re.compile(rf"(?<![\d.,-])\d(?:[ -]?\d){{{MIN_DIGITS - 1},{MAX_DIGITS - 1}}}(?![\d])")

#: A run of digits in any width, single separators allowed between them (the ones Japanese input
#: writes for a hyphen or a space), as long as it goes: the candidates of :func:`mask_card_numbers`.
_DIGIT_RUN = re.compile(r"\d(?:[ \-\u2010-\u2015\u2212\u30fc\u3000\uff0d]?\d)*")
_NOT_DIGIT = re.compile(r"\D")


def normalize_card_number(raw: str) -> str:
    """Half-width digits only: full-width digits converted, hyphens and spaces removed."""
    return normalize_digits(raw)


def is_card_number(digits: str) -> bool:
    """Whether normalised ``digits`` are a card number (13–19 half-width digits)."""
    return digits.isascii() and digits.isdigit() and MIN_DIGITS <= len(digits) <= MAX_DIGITS


#: The key in use, encoded once (a member master hashes a million numbers): (the setting, its
#: bytes). Encoded again when the setting changes.
_key: tuple[str, bytes] = ("", b"")


def card_hash(raw: str) -> str:
    """The keyed hash meisai matches cards on (64 hex characters)."""
    global _key  # noqa: PLW0603 - the one cache of this module, renewed when the key changes
    # Digits only already (what core systems send and importers pass): nothing to normalise.
    digits = raw if raw.isdigit() and raw.isascii() else normalize_card_number(raw)
    key = settings.CARD_HASH_KEY
    if _key[0] != key or not _key[1]:
        _key = (key, key.encode())
    # The one-shot HMAC (OpenSSL's, in C): no Python HMAC object per number.
    return hmac.digest(_key[1], digits.encode(), hashlib.sha256).hex()


def last_four(raw: str) -> str:
    return normalize_card_number(raw)[-4:]


def mask(raw_or_last4: str) -> str:
    """``****-****-****-1234``: the only form of a card number a person ever sees."""
    return f"****-****-****-{last_four(raw_or_last4)}"


def mask_in_text(text: str) -> str:
    """``text`` with every run that could be a card number masked."""
    return IN_TEXT.sub(lambda match: mask(match.group(0)), text)


def luhn_valid(digits: str) -> bool:
    """Whether ``digits`` (digits only, any width) pass the Luhn check every payment card
    number passes (ISO/IEC 7812-1, annex B)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = unicodedata.digit(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def holds_card_number(digits: str) -> bool:
    """Whether 13–19 consecutive digits of ``digits`` (digits only, any width) pass the Luhn
    check.

    Every stretch is tried, not only the whole: a card number glued to other digits (``12`` in
    front, a 20-digit "amount") is still a card number to whoever reads it. Linear in the
    length: prefix sums of the Luhn weights for either parity make each stretch one subtraction.
    """
    # plain_even[k]: the Luhn sum of digits[:k] doubling the odd indexes; plain_odd[k]: doubling
    # the even ones. A stretch ending at index e doubles the indexes of the other parity than e.
    plain_even, plain_odd = [0], [0]
    for index, char in enumerate(digits):
        value = unicodedata.digit(char)
        doubled = value * 2 - 9 if value > 4 else value * 2
        plain_even.append(plain_even[-1] + (doubled if index % 2 else value))
        plain_odd.append(plain_odd[-1] + (value if index % 2 else doubled))
    for end in range(MIN_DIGITS, len(digits) + 1):
        sums = plain_even if (end - 1) % 2 == 0 else plain_odd
        for length in range(MIN_DIGITS, min(MAX_DIGITS, end) + 1):
            if (sums[end] - sums[end - length]) % 10 == 0:
                return True
    return False


def mask_card_numbers(text: str) -> str:
    """``text`` with every run of digits that holds a card number (13–19 digits passing the
    Luhn check, with or without single spaces or hyphens) replaced by its mask.

    The rule of every message a person reads (import errors, stored or printed). The whole run
    is masked, so no digit of the card number around the mask is left to read.
    """
    return _DIGIT_RUN.sub(_mask_if_card, text)


def _mask_if_card(match: re.Match[str]) -> str:
    run = match.group(0)
    digits = _NOT_DIGIT.sub("", run)
    if len(digits) >= MIN_DIGITS and holds_card_number(digits):
        return mask(digits)
    return run
