"""The business calendar (SPEC 3.1): billing months, business days and the moments that matter.

Every date rule of the monthly cycle lives here and nowhere else:

* a billing month ``YYYY-MM`` (○月請求分) bills the usage of the previous calendar month;
* the registration cutoff is the end of the cutoff day (締め日, default the 9th) of the billing
  month, Japan time: a delivery preference recorded before 00:00 JST of the day after (the 10th)
  decides that month's statement;
* the confirmation day (請求額確定, default the 13th) and the debit day (引落日, default the 26th)
  move to the next business day across Saturdays, Sundays, Japanese public holidays (from the
  maintained ``holidays`` library) and the bank closing days 12-31 … 01-03;
* the service starts with a billing month (default 2024-11); nothing earlier is ever shown
  online, and a member sees at most the latest ``history_months`` billing months (default 13);
* paper statements carry a fee from a billing month on (default 2025-04): net plus consumption
  tax (default 150 + 10 % = 165 yen).

The numbers come from ``settings.MEISAI_CALENDAR``, which ``meisai.config`` reads and checks from
the environment, so an issuer changes them without code. Pages and emails print them through
:func:`calendar_terms`, never as fixed text.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Any

import holidays
from django.conf import settings

from meisai.clock import JST, today_jst

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True)
class BillingMonth:
    """A billing month (○月請求分), ordered and hashable; ``str()`` gives ``YYYY-MM``."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1900 <= self.year <= 9999:
            raise ValueError(f"not a billing month: {self.year:04d}-{self.month:02d}")

    @classmethod
    def parse(cls, text: str) -> BillingMonth:
        match = _MONTH_RE.match(text.strip())
        if not match:
            raise ValueError(f"not a billing month (YYYY-MM): {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: dt.date) -> BillingMonth:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        """Japanese label, e.g. ``2025年4月請求分``."""
        return f"{self.year}年{self.month}月請求分"

    def plus(self, months: int) -> BillingMonth:
        index = self.year * 12 + (self.month - 1) + months
        return BillingMonth(index // 12, index % 12 + 1)

    def next(self) -> BillingMonth:
        return self.plus(1)

    def previous(self) -> BillingMonth:
        return self.plus(-1)

    def day(self, day_of_month: int) -> dt.date:
        return dt.date(self.year, self.month, day_of_month)

    def months_since(self, other: BillingMonth) -> int:
        return (self.year - other.year) * 12 + (self.month - other.month)


def _setting(name: str) -> Any:
    return settings.MEISAI_CALENDAR[name]


# --- business days ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _japanese_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("JP", years=year)


def is_bank_closing_day(day: dt.date) -> bool:
    """12-31 … 01-03: Japanese banks are closed although these are not all public holidays."""
    return (day.month, day.day) in {(12, 31), (1, 1), (1, 2), (1, 3)}


def is_business_day(day: dt.date) -> bool:
    return (
        day.weekday() < 5
        and day not in _japanese_holidays(day.year)
        and not is_bank_closing_day(day)
    )


def next_business_day(day: dt.date) -> dt.date:
    """``day`` itself when it is a business day, else the first business day after it."""
    while not is_business_day(day):
        day += dt.timedelta(days=1)
    return day


def holiday_name(day: dt.date) -> str | None:
    return _japanese_holidays(day.year).get(day)


# --- the days of a billing month --------------------------------------------------------------


def service_start() -> BillingMonth:
    return BillingMonth.parse(_setting("service_start"))


def usage_period(month: BillingMonth) -> tuple[dt.date, dt.date]:
    """First and last use date billed in ``month``: the previous calendar month."""
    previous = month.previous()
    first = previous.day(1)
    return first, month.day(1) - dt.timedelta(days=1)


def confirmation_date(month: BillingMonth) -> dt.date:
    """請求額確定: the day statements are published and the email goes out."""
    return next_business_day(month.day(_setting("confirmation_day")))


def debit_date(month: BillingMonth) -> dt.date:
    """引落日: the day the statement's total is debited."""
    return next_business_day(month.day(_setting("debit_day")))


def registration_cutoff(month: BillingMonth) -> dt.datetime:
    """The first moment that no longer counts for ``month``: 00:00 JST of the day after the
    cutoff day (the 10th by default).

    A preference recorded strictly before this moment decides the delivery of ``month``
    ("registered by the 9th → takes effect from that month's statement").
    """
    cutoff_day = _setting("registration_cutoff_day")
    return dt.datetime.combine(month.day(cutoff_day) + dt.timedelta(days=1), dt.time(0), tzinfo=JST)


def first_month_affected(moment: dt.datetime) -> BillingMonth:
    """The first billing month whose delivery a preference change at ``moment`` decides."""
    month = BillingMonth.of(moment.astimezone(JST).date())
    if moment >= registration_cutoff(month):
        month = month.next()
    return month


# --- paper fee --------------------------------------------------------------------------------


def paper_fee_start() -> BillingMonth:
    return BillingMonth.parse(_setting("paper_fee_start"))


def paper_fee_amount() -> tuple[int, int]:
    """(net, consumption tax) of the paper-statement fee: 150 + 15 = 165 yen by default.

    The tax is ``paper_fee_tax_percent`` of the net, rounded down to the whole yen (切り捨て).
    Japan's invoice rules round consumption tax once per invoice and tax rate and leave the
    direction to the issuer; the fee is the only taxed amount meisai adds to a statement, so
    rounding it here is rounding once per statement, and rounding down never charges a member
    more than the rate. Integer arithmetic keeps it exact: no float ever touches a yen.
    """
    net = int(_setting("paper_fee_net"))
    return net, net * int(_setting("paper_fee_tax_percent")) // 100


def paper_fee_total() -> int:
    """The paper fee with tax, as a member pays it (165 yen by default)."""
    net, tax = paper_fee_amount()
    return net + tax


# --- what a member may see ---------------------------------------------------------------------


def latest_billing_month(today: dt.date | None = None) -> BillingMonth:
    """The newest billing month whose confirmation day has come."""
    today = today or today_jst()
    month = BillingMonth.of(today)
    return month if today >= confirmation_date(month) else month.previous()


def visible_months(latest: BillingMonth) -> list[BillingMonth]:
    """The billing months a member may see, newest first: at most ``history_months``, and never
    one before the service start."""
    start = service_start()
    count = int(_setting("history_months"))
    return [m for m in (latest.plus(-i) for i in range(count)) if m >= start]


def is_visible(month: BillingMonth, latest: BillingMonth) -> bool:
    return month in visible_months(latest)


# --- what pages and emails print ---------------------------------------------------------------


@dataclass(frozen=True)
class CalendarTerms:
    """The calendar as members read it, for templates: ``毎月{{ cutoff_day }}日`` and so on."""

    #: 締め日 and the first day that counts for the next month (9 and 10 by default).
    cutoff_day: int
    day_after_cutoff: int
    confirmation_day: int
    debit_day: int
    history_months: int
    service_start: BillingMonth
    #: ``2024年11月請求分`` (``November 2024 statement``): the first billing month shown online.
    service_start_label: str
    paper_fee_start: BillingMonth
    paper_fee_start_label: str
    paper_fee_net: int
    paper_fee_tax: int
    #: The fee with tax, in whole yen (165 by default).
    paper_fee: int


def calendar_terms() -> CalendarTerms:
    """The configured calendar, read afresh so a changed setting shows on the next page; its
    month labels are in the active language (``statements.formatting``)."""
    # formatting imports BillingMonth from here: imported when called, not when loaded.
    from meisai.statements.formatting import statement_month

    cutoff_day = int(_setting("registration_cutoff_day"))
    start = service_start()
    fee_start = paper_fee_start()
    net, tax = paper_fee_amount()
    return CalendarTerms(
        cutoff_day=cutoff_day,
        day_after_cutoff=cutoff_day + 1,
        confirmation_day=int(_setting("confirmation_day")),
        debit_day=int(_setting("debit_day")),
        history_months=int(_setting("history_months")),
        service_start=start,
        service_start_label=statement_month(start),
        paper_fee_start=fee_start,
        paper_fee_start_label=statement_month(fee_start),
        paper_fee_net=net,
        paper_fee_tax=tax,
        paper_fee=net + tax,
    )
