"""The rule of each column of the usage file, one ``check_<column>`` function each.

A check takes the field as the file gives it (any width, spaces around it) and returns the
value as it is stored, or raises :class:`FieldError` saying what is wrong; the row loop
(``rows.py``) reports that under the column's name with the value as the file gave it::

    usage.csv:3: column use_date: value '2025-02-30': no such date

:class:`Checks` binds them to what is stored (members, confirmed months, cards) for one file,
each behind a :class:`Memo`: a usage file repeats its months, dates, line numbers, shops and
amounts, so each check runs once per distinct value and the usual row costs one dict look-up
per column.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from meisai import card_numbers
from meisai.billing_calendar import BillingMonth
from meisai.imports.formats.usage.table import integer_range, max_length
from meisai.imports.reading import FieldError, half, within
from meisai.statements.models import PaymentType, UserKind

_INT_RE = re.compile(r"-?[0-9]+", re.ASCII)
_DECIMAL_RE = re.compile(r"-?[0-9,]*\.[0-9]*", re.ASCII)
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_INSTALLMENT_RE = re.compile(r"([0-9]{1,3})/([0-9]{1,3})", re.ASCII)

_USERS = frozenset(UserKind.values)
_PAYMENTS = frozenset(PaymentType.values)
_NEEDS_INSTALLMENT = frozenset({PaymentType.INSTALLMENT.value})
_NO_INSTALLMENT = frozenset({PaymentType.ONCE.value, PaymentType.BONUS.value})
_MERCHANT_MAX = max_length("merchant")
_NOTE_MAX = max_length("note")
_LINE_NO_RANGE = integer_range("line_no")
#: use_amount and billed_amount share one check (and one memo), so they share one range.
_AMOUNT_RANGE = integer_range("use_amount")
assert integer_range("billed_amount") == _AMOUNT_RANGE


def check_member_no(raw: str, *, members: Mapping[str, int]) -> int:
    """A stored member's number (any width, spaces around it allowed): that member's id."""
    member_id = members.get(half(raw))
    if member_id is None:
        raise FieldError("unknown member number")
    return member_id


def check_billing_month(raw: str, *, confirmed: set[str]) -> str:
    """``YYYY-MM`` (``BillingMonth``'s rule) of a month whose close is not confirmed."""
    text = half(raw)
    try:
        # isascii: BillingMonth reads any Unicode digit; the file's are ASCII once half-width.
        month = str(BillingMonth.parse(text)) if text.isascii() else ""
    except ValueError:
        month = ""
    if not month:
        raise FieldError("not a billing month in the form YYYY-MM")
    if month in confirmed:
        raise FieldError(
            "the billing month is already confirmed (締め済み): corrections go into a later month"
        )
    return month


def check_line_no(raw: str) -> int:
    """A positive whole number that fits the column."""
    text = half(raw)
    if not (text.isascii() and text.isdigit()) or within(text, _LINE_NO_RANGE) == 0:
        raise FieldError("not a positive whole number")
    return int(text)


def check_use_date(raw: str) -> str:
    """A real date ``YYYY-MM-DD``, kept as its text (COPY and SQLite take it as it is)."""
    text = half(raw)
    if not text:
        raise FieldError("empty: a use date is required")
    if not _DATE_RE.fullmatch(text):
        raise FieldError("not a date in the form YYYY-MM-DD")
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise FieldError("no such date") from None
    return text


def check_merchant(raw: str) -> str:
    """Required, at most as long as the column."""
    text = raw.strip()
    if not text:
        raise FieldError("empty: a merchant is required")
    if len(text) > _MERCHANT_MAX:
        raise FieldError(f"longer than {_MERCHANT_MAX} characters")
    return text


def check_user(raw: str) -> str:
    """本人 or 家族."""
    text = raw.strip()
    if text not in _USERS:
        raise FieldError("must be 本人 or 家族")
    return text


def check_payment_type(raw: str) -> str:
    """1回, 2回, ボーナス, 分割 or リボ."""
    text = raw.strip()
    if text not in _PAYMENTS:
        raise FieldError("must be 1回, 2回, ボーナス, 分割 or リボ")
    return text


def check_installment(raw: str, payment: str) -> str:
    """``n/m`` with 1 ≤ n ≤ m ≤ 999: required for 分割, ``n/2`` if given for 2回, optional for
    リボ, empty for 1回 and ボーナス. ``payment`` is a checked payment type."""
    text = half(raw)
    if not text:
        if payment in _NEEDS_INSTALLMENT:
            raise FieldError("required for 分割 (n/m, e.g. 3/10)")
        return text
    if payment in _NO_INSTALLMENT:
        raise FieldError(f"must be empty for {payment}")
    match = _INSTALLMENT_RE.fullmatch(text)
    if not match:
        raise FieldError("not n/m (e.g. 3/10)")
    n, m = int(match.group(1)), int(match.group(2))
    if not 1 <= n <= m:
        raise FieldError("n/m needs 1 ≤ n ≤ m")
    if payment == PaymentType.TWICE and m != 2:
        raise FieldError("2回 is n/2")
    return text


def check_amount(raw: str) -> int:
    """Whole yen, negative for refunds and corrections (use_amount and billed_amount), within
    the column's range."""
    text = half(raw)
    if _INT_RE.fullmatch(text):
        return within(text, _AMOUNT_RANGE)
    if not text:
        raise FieldError("empty: an amount in whole yen is required")
    if _DECIMAL_RE.fullmatch(text):
        raise FieldError("has a decimal point: amounts are whole yen")
    raise FieldError("not a whole number of yen")


def check_note(raw: str) -> str:
    """Optional, at most as long as the column."""
    text = raw.strip()
    if len(text) > _NOTE_MAX:
        raise FieldError(f"longer than {_NOTE_MAX} characters")
    return text


def check_card_no(
    raw: str, member_id: int | None, *, card_owner: Mapping[str, tuple[int, int]]
) -> int | None:
    """Empty (no card), or the number of one of the member's cards: that card's id.
    ``card_owner`` maps each stored card's hash to (card id, member id)."""
    if not raw.strip():
        return None
    digits = card_numbers.normalize_card_number(raw)
    owner = (
        card_owner.get(card_numbers.card_hash(digits))
        if card_numbers.is_card_number(digits)
        else None
    )
    if owner is None:
        raise FieldError("unknown card number")
    card_id, owner_id = owner
    # An unknown member is reported under member_no; their card is not judged against them.
    if member_id is not None and owner_id != member_id:
        raise FieldError("the card is not this member's")
    return card_id


# --- each check behind its memo, bound to one file's stored data -------------------------------

_Raw = TypeVar("_Raw")
_Value = TypeVar("_Value")

#: How many distinct values a memo remembers (beyond its seed) before it stops growing, so a
#: file of all-different shops or amounts cannot fill the memory.
MEMO_LIMIT = 200_000


class Memo(dict[_Raw, _Value]):
    """A column's check, remembered per distinct value: ``memo[raw]`` is the checked value.

    A value is checked the first time it is looked up; later rows with the same value cost one
    dict look-up. A value that fails is not remembered: looking it up checks it again and raises
    again (``FieldError``), which only bad rows pay.
    """

    def __init__(
        self,
        check: Callable[[_Raw], _Value],
        *,
        seed: Mapping[_Raw, _Value] | None = None,
        limit: int | None = MEMO_LIMIT,
    ) -> None:
        super().__init__(seed or {})
        self._check = check
        self._size_limit = None if limit is None else len(self) + limit

    def __missing__(self, raw: _Raw) -> _Value:
        value = self._check(raw)
        if self._size_limit is None or len(self) < self._size_limit:
            self[raw] = value
        return value


@dataclass(frozen=True)
class Checks:
    """Every column's check for one file, bound to what is stored, each behind its memo."""

    member_no: Memo[str, int]
    billing_month: Memo[str, str]
    line_no: Memo[str, int]
    use_date: Memo[str, str]
    merchant: Memo[str, str]
    user: Memo[str, str]
    payment_type: Memo[str, str]
    #: Keyed by (installment, checked payment type).
    installment: Memo[tuple[str, str], str]
    #: use_amount and billed_amount.
    amount: Memo[str, int]
    note: Memo[str, str]
    #: Not remembered: card numbers are not kept in memory longer than their row.
    card_no: Callable[[str, int | None], int | None]

    @classmethod
    def bound_to(
        cls,
        *,
        members: dict[str, int],
        confirmed: set[str],
        card_owner: dict[str, tuple[int, int]],
    ) -> Checks:
        """``members``: member number → id; ``confirmed``: the months whose close is confirmed;
        ``card_owner``: each stored card's hash → (card id, member id)."""
        return cls(
            # Seeded with the stored numbers: a number given as stored is found at once.
            member_no=Memo(partial(check_member_no, members=members), seed=members),
            # Never full: the file's months are read from it (``months``).
            billing_month=Memo(partial(check_billing_month, confirmed=confirmed), limit=None),
            line_no=Memo(check_line_no),
            use_date=Memo(check_use_date),
            merchant=Memo(check_merchant),
            user=Memo(check_user),
            payment_type=Memo(check_payment_type),
            installment=Memo(lambda key: check_installment(*key)),
            amount=Memo(check_amount),
            note=Memo(check_note),
            card_no=partial(check_card_no, card_owner=card_owner),
        )

    def months(self) -> list[str]:
        """Every good billing month the file has named so far, in order."""
        return sorted(set(self.billing_month.values()))
