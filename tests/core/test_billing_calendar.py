"""The business calendar (SPEC 3.1) on real Japanese dates."""

from __future__ import annotations

import datetime as dt

import pytest

from meisai import billing_calendar as cal
from meisai.billing_calendar import BillingMonth
from meisai.clock import JST


def test_seijin_no_hi_2025_is_not_a_business_day():
    # 2025-01-13 is 成人の日 (a Monday): the confirmation day moves to Tuesday the 14th.
    assert cal.holiday_name(dt.date(2025, 1, 13)) is not None
    assert cal.confirmation_date(BillingMonth(2025, 1)) == dt.date(2025, 1, 14)


def test_golden_week_2025_moves_to_the_7th():
    for day in (3, 4, 5, 6):
        assert not cal.is_business_day(dt.date(2025, 5, day))
    assert cal.next_business_day(dt.date(2025, 5, 3)) == dt.date(2025, 5, 7)


def test_new_year_bank_closing_days():
    # 2024-12-31 is a Tuesday but banks are closed from 12-31 to 01-03.
    assert not cal.is_business_day(dt.date(2024, 12, 31))
    assert cal.next_business_day(dt.date(2024, 12, 31)) == dt.date(2025, 1, 6)


def test_debit_day_on_a_weekend_moves_to_monday():
    # 2025-04-26 is a Saturday.
    assert cal.debit_date(BillingMonth(2025, 4)) == dt.date(2025, 4, 28)


def test_usage_of_a_billing_month_is_the_previous_calendar_month():
    assert cal.usage_period(BillingMonth(2025, 3)) == (dt.date(2025, 2, 1), dt.date(2025, 2, 28))


@pytest.mark.parametrize(
    ("moment", "month"),
    [
        (dt.datetime(2025, 4, 9, 23, 59, 59, tzinfo=JST), BillingMonth(2025, 4)),
        (dt.datetime(2025, 4, 10, 0, 0, 0, tzinfo=JST), BillingMonth(2025, 5)),
        (dt.datetime(2025, 12, 10, 0, 0, 0, tzinfo=JST), BillingMonth(2026, 1)),
    ],
)
def test_the_ninth_cutoff_decides_the_first_month(moment, month):
    assert cal.first_month_affected(moment) == month


def test_window_is_13_months_and_never_before_service_start():
    assert cal.visible_months(BillingMonth(2025, 3))[-1] == BillingMonth(2024, 11)
    months = cal.visible_months(BillingMonth(2026, 11))
    assert len(months) == 13
    assert months[0] == BillingMonth(2026, 11) and months[-1] == BillingMonth(2025, 11)


def test_latest_month_appears_on_the_confirmation_day():
    assert cal.latest_billing_month(dt.date(2025, 4, 11)) == BillingMonth(2025, 3)
    assert cal.latest_billing_month(dt.date(2025, 4, 14)) == BillingMonth(2025, 4)


def test_billing_month_parsing_refuses_nonsense():
    with pytest.raises(ValueError, match="^not a billing month: 2025-13$"):
        BillingMonth.parse("2025-13")
    with pytest.raises(ValueError, match=r"^not a billing month \(YYYY-MM\): '2025/04'$"):
        BillingMonth.parse("2025/04")
    assert str(BillingMonth.parse("2025-04")) == "2025-04"
    assert BillingMonth(2025, 4).label == "2025年4月請求分"
