"""How amounts, dates and months read, for pages, emails, the PDF and the CSV alike.

Each value has one Japanese and one English form (docs/i18n.md). ``money``, ``long_date``,
``statement_month``, ``payment_name``, ``point_amount`` and ``user_name`` follow the active
language, so a page or email rendered with English chosen reads ``¥12,345``, ``Mon, 28 Apr 2025``
and ``April 2025 statement``, and with Japanese exactly what it always read (``12,345円``,
``2025年4月28日(月)``, ``2025年4月請求分``).

``yen``, ``jp_date`` and ``month_label`` are the Japanese forms whatever the language (staff
pages and the Japanese PDF, whose recorded SHA-256 must not depend on who asks); the English PDF
passes ``language="en"`` to the forms below (``pdf.py``).

The names of stored codes (payment types, users, delivery) are printed once per table row, so
each language's names are resolved once per process (``_names``), not switched per row.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from typing import Any

from django.utils import translation
from django.utils.translation import gettext_lazy

from meisai.billing_calendar import BillingMonth
from meisai.clock import jst
from meisai.statements.models import PaymentType, Statement, UserKind

_WEEKDAYS = "月火水木金土日"
_EN_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_EN_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

#: The payment types and users as members read them: the stored codes stay Japanese
#: (``PaymentType``, ``UserKind``); only what is shown is translated.
_PAYMENT_NAMES = {
    PaymentType.ONCE: gettext_lazy("1回払い"),
    PaymentType.TWICE: gettext_lazy("2回払い"),
    PaymentType.BONUS: gettext_lazy("ボーナス一括払い"),
    PaymentType.INSTALLMENT: gettext_lazy("分割払い"),
    PaymentType.REVOLVING: gettext_lazy("リボ払い"),
}
_USER_NAMES = {UserKind.SELF: gettext_lazy("本人"), UserKind.FAMILY: gettext_lazy("家族")}
_DELIVERY_NAMES = {
    Statement.Delivery.WEB: gettext_lazy("WEB明細"),
    Statement.Delivery.PAPER: gettext_lazy("紙明細"),
}
_TABLES: dict[str, Mapping[Any, object]] = {
    "payment": _PAYMENT_NAMES,
    "user": _USER_NAMES,
    "delivery": _DELIVERY_NAMES,
}


def _english(language: str | None) -> bool:
    """Whether ``language`` (``None``: the active one) is English."""
    return (language or translation.get_language() or "ja").startswith("en")


@functools.cache
def _names(table: str, language: str) -> Mapping[str, str]:
    """The names of ``table`` (``_TABLES``) resolved in ``language``: one ``override`` per
    language and process instead of one per printed row (the catalogue never changes while
    meisai runs)."""
    with translation.override(language):
        return {code: str(name) for code, name in _TABLES[table].items()}


def _name(table: str, code: str, language: str | None) -> str:
    """``code``'s name in ``language`` (``None``: the active one); an unknown code as it is."""
    return _names(table, language or translation.get_language() or "ja").get(code, code)


# --- Japanese whatever the language (the PDF) -------------------------------------------------


def yen(amount: int) -> str:
    """``12345`` → ``12,345円``; a refund reads ``-1,200円``."""
    return f"{amount:,}円"


def jp_date(day: dt.date | None) -> str:
    """``2025-04-28`` → ``2025年4月28日(月)``."""
    if day is None:
        return ""
    return f"{day.year}年{day.month}月{day.day}日({_WEEKDAYS[day.weekday()]})"


def short_date(day: dt.date | None) -> str:
    """A use date in a table: ``2025/03/05``, read alike in both languages."""
    return "" if day is None else f"{day.year}/{day.month:02d}/{day.day:02d}"


def month_label(month: BillingMonth | str) -> str:
    """``2025-04`` → ``2025年4月請求分``."""
    if isinstance(month, str):
        month = BillingMonth.parse(month)
    return month.label


def payment_label(code: str) -> str:
    """``1回`` → ``1回払い``: a payment type as the statement prints it (``PaymentType``'s label);
    a code meisai does not know is printed as the core system sent it."""
    return str(PaymentType(code).label) if code in PaymentType.values else code


# --- in the active language (pages, emails, the CSV) ------------------------------------------


def money(amount: int, *, language: str | None = None) -> str:
    """``12,345円`` in Japanese, ``¥12,345`` in English; a refund reads ``-¥1,200``."""
    if not _english(language):
        return yen(amount)
    return f"-¥{-amount:,}" if amount < 0 else f"¥{amount:,}"


def long_date(day: dt.date | None, *, language: str | None = None) -> str:
    """``2025年4月28日(月)`` in Japanese, ``Mon, 28 Apr 2025`` in English."""
    if day is None or not _english(language):
        return jp_date(day)
    return f"{_EN_WEEKDAYS[day.weekday()]}, {day.day} {_EN_MONTHS[day.month - 1][:3]} {day.year}"


def statement_month(month: BillingMonth | str, *, language: str | None = None) -> str:
    """``2025年4月請求分`` in Japanese, ``April 2025 statement`` in English."""
    if isinstance(month, str):
        month = BillingMonth.parse(month)
    if not _english(language):
        return month.label
    return f"{_EN_MONTHS[month.month - 1]} {month.year} statement"


def date_time(moment: dt.datetime | None, *, language: str | None = None) -> str:
    """A moment in Japan's time: ``2025年4月28日 14:05`` in Japanese (Django's
    ``date:"Y年n月j日 H:i"``), ``28 Apr 2025 14:05`` in English."""
    if moment is None:
        return ""
    local = jst(moment)
    clock = f"{local.hour:02d}:{local.minute:02d}"
    if not _english(language):
        return f"{local.year}年{local.month}月{local.day}日 {clock}"
    return f"{local.day} {_EN_MONTHS[local.month - 1][:3]} {local.year} {clock}"


def issue_label(month: str, *, language: str | None = None) -> str:
    """A magazine issue's month ``YYYY-MM``: ``2025年4月号`` in Japanese, ``April 2025 issue``."""
    year, number = (int(part) for part in month.split("-"))
    if not _english(language):
        return f"{year}年{number}月号"
    return f"{_EN_MONTHS[number - 1]} {year} issue"


def calendar_month(month: BillingMonth, *, language: str | None = None) -> str:
    """A month without the word statement: ``2025年4月`` in Japanese, ``April 2025`` in English."""
    if not _english(language):
        return f"{month.year}年{month.month}月"
    return f"{_EN_MONTHS[month.month - 1]} {month.year}"


def point_amount(amount: int, *, language: str | None = None) -> str:
    """``1,234ポイント`` in Japanese, ``1,234 points`` in English (``1 point``)."""
    if not _english(language):
        return f"{amount:,}ポイント"
    return f"{amount:,} point" if amount in (1, -1) else f"{amount:,} points"


def payment_name(code: str, *, language: str | None = None) -> str:
    """``payment_label`` in the active language: ``1回払い`` or ``Single payment``."""
    return _name("payment", code, language)


def delivery_name(method: str, *, language: str | None = None) -> str:
    """How a statement is delivered, ``WEB明細`` or ``紙明細`` (``Web`` or ``Paper``)."""
    return _name("delivery", method, language)


def user_name(code: str, *, language: str | None = None) -> str:
    """Who used the card, 本人 or 家族, in the active language (``Cardholder``, ``Family``)."""
    return _name("user", code, language)


def file_month(month: BillingMonth, *, language: str | None = None) -> str:
    """A billing month in a download's file name: ``2025年4月請求分`` in Japanese, ``2025-04`` in
    English (no spaces, and the files sort by name)."""
    return str(month) if _english(language) else month.label


# --- the list page's chart (statements/charts.py) ----------------------------------------------


def chart_month(month: BillingMonth, *, language: str | None = None) -> str:
    """Under a bar: ``4月`` in Japanese, ``Apr`` in English."""
    return f"{_EN_MONTHS[month.month - 1][:3]}" if _english(language) else f"{month.month}月"


def chart_year(month: BillingMonth, *, language: str | None = None) -> str:
    """Under January's bar: ``2025年`` in Japanese, ``2025`` in English."""
    return str(month.year) if _english(language) else f"{month.year}年"


def compact_amount(amount: int, *, language: str | None = None) -> str:
    """Over a bar, short: ``12.3万`` (10,000 yen and more) or ``9,800`` in Japanese; in English
    ``12k`` (1,000 yen and more) or ``980``."""
    if _english(language):
        return f"{round(amount / 1000):,}k" if abs(amount) >= 1000 else f"{amount:,}"
    if abs(amount) >= 10_000:
        return f"{amount / 10_000:.1f}万"
    return f"{amount:,}"
