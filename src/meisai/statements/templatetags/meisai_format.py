"""Template filters for the member pages: yen amounts, Japanese dates, billing-month labels."""

from __future__ import annotations

import datetime as dt

from django import template

from meisai.billing_calendar import BillingMonth
from meisai.statements import formatting

register = template.Library()


@register.filter
def yen(amount: int | None) -> str:
    return "" if amount is None else formatting.yen(amount)


@register.filter
def jp_date(day: dt.date | None) -> str:
    return formatting.jp_date(day)


@register.filter
def short_date(day: dt.date | None) -> str:
    return formatting.short_date(day)


@register.filter
def month_label(month: BillingMonth | str) -> str:
    return formatting.month_label(month)


@register.filter
def points(amount: int | None) -> str:
    return "" if amount is None else f"{amount:,}ポイント"


@register.filter
def payment_label(code: str) -> str:
    return formatting.payment_label(code)
