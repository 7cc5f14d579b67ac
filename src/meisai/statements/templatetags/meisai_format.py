"""Template filters for the member pages and emails: amounts, dates, billing months, points and
payment types, each in the active language (``statements.formatting``)."""

from __future__ import annotations

import datetime as dt

from django import template

from meisai.billing_calendar import BillingMonth
from meisai.statements import formatting
from meisai.statements.models import PaymentType

register = template.Library()


@register.filter
def yen(amount: int | None) -> str:
    """``12,345円``, or ``¥12,345`` with English chosen."""
    return "" if amount is None else formatting.money(amount)


@register.filter
def jp_date(day: dt.date | None) -> str:
    """``2025年4月28日(月)``, or ``Mon, 28 Apr 2025`` with English chosen."""
    return formatting.long_date(day)


@register.filter
def short_date(day: dt.date | None) -> str:
    return formatting.short_date(day)


@register.filter
def month_label(month: BillingMonth | str) -> str:
    """``2025年4月請求分``, or ``April 2025 statement`` with English chosen."""
    return formatting.statement_month(month)


@register.filter
def points(amount: int | None) -> str:
    """``1,234ポイント``, or ``1,234 points`` with English chosen."""
    return "" if amount is None else formatting.point_amount(amount)


@register.filter
def payment_label(code: str) -> str:
    """``1回払い``, or ``Single payment`` with English chosen."""
    return formatting.payment_name(code)


@register.filter
def is_single_payment(code: str) -> bool:
    """Whether a line is paid at once (``1回``): the table marks those rows, a stored code the
    template need not spell."""
    return code == PaymentType.ONCE


@register.filter
def user_label(code: str) -> str:
    """``本人``/``家族``, or ``Cardholder``/``Family`` with English chosen."""
    return formatting.user_name(code)


@register.filter
def delivery_label(method: str) -> str:
    """``WEB明細``/``紙明細``, or ``Web``/``Paper`` with English chosen."""
    return formatting.delivery_name(method)


@register.filter
def date_time(moment: dt.datetime | None) -> str:
    """``2025年4月28日 14:05``, or ``28 Apr 2025 14:05`` with English chosen (Japan's time);
    empty for anything but a moment, as Django's ``date`` filter is."""
    return formatting.date_time(moment) if isinstance(moment, dt.datetime) else ""


@register.filter
def issue_label(month: str) -> str:
    """A magazine issue: ``2025年4月号``, or ``April 2025 issue`` with English chosen."""
    return formatting.issue_label(month)
