"""Helpers shared by the monthly-cycle tests: close or publish a month at a chosen moment."""

from __future__ import annotations

import datetime as dt

import time_machine

from meisai.billing_calendar import BillingMonth
from meisai.clock import JST
from meisai.statements.close import CloseResult, statement_close
from meisai.statements.publish import PublishResult, statement_publish


def jst(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=JST)  # type: ignore[misc]


def close(
    month: str, *, dry_run: bool = False, force: bool = False, at: dt.datetime | None = None
) -> CloseResult:
    """Close ``month`` on its 11th at noon JST (after the cutoff) unless told otherwise."""
    billing = BillingMonth.parse(month)
    moment = at or jst(billing.year, billing.month, 11, 12, 0)
    with time_machine.travel(moment, tick=False):
        return statement_close(month=billing, actor="test-operator", dry_run=dry_run, force=force)


def publish(month: str, *, at: dt.datetime | None = None) -> PublishResult:
    billing = BillingMonth.parse(month)
    moment = at or jst(billing.year, billing.month, 13, 9, 0)
    with time_machine.travel(moment, tick=False):
        return statement_publish(month=billing, actor="test-operator")
