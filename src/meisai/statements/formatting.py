"""How amounts, dates and months read in Japanese, for pages, the PDF and the CSV alike."""

from __future__ import annotations

import datetime as dt

from meisai.billing_calendar import BillingMonth
from meisai.statements.models import PaymentType

_WEEKDAYS = "月火水木金土日"


def yen(amount: int) -> str:
    """``12345`` → ``12,345円``; a refund reads ``-1,200円``."""
    return f"{amount:,}円"


def jp_date(day: dt.date | None) -> str:
    """``2025-04-28`` → ``2025年4月28日(月)``."""
    if day is None:
        return ""
    return f"{day.year}年{day.month}月{day.day}日({_WEEKDAYS[day.weekday()]})"


def short_date(day: dt.date | None) -> str:
    """A use date in a table: ``2025/03/05``."""
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
