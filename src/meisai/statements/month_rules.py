"""Which billing months the monthly cycle may close and publish (SPEC 3.6): months follow the
calendar.

* **service start**: a month before ``MEISAI_SERVICE_START`` is never closed or published, with
  or without ``--force``: members could never see it (SPEC 3.1), so its email would link to a
  page that answers 404.
* **order**: a month is closed after every earlier month of the service that has usage lines;
  an earlier month without lines has nothing to close and does not count, nor do months before
  the start. The operator may close out of order on purpose (``force``); the close records it.

The close (:mod:`meisai.statements.close`) and the publication
(:mod:`meisai.statements.publish`) ask here and raise their own refusals with these messages, so
the command, its ``--queue`` job and the scheduler obey the same rule.
"""

from __future__ import annotations

from meisai import billing_calendar as cal
from meisai.billing_calendar import BillingMonth
from meisai.statements.models import MonthClose, UsageLine


def before_service_start(month: BillingMonth) -> str | None:
    """Why ``month`` is outside the service (its text ends before the verb), or None."""
    start = cal.service_start()
    if month >= start:
        return None
    return f"{month.label}はサービス開始({start.label})より前の月のため"


def open_months_before(month: BillingMonth) -> list[BillingMonth]:
    """The months from the service start up to ``month`` (excluded) that have usage lines and
    are not confirmed, oldest first.

    One query for the confirmed months, then one index probe (``usage_line_unique`` starts with
    the month) per month still open: normally none, as every earlier month is closed.
    """
    start = cal.service_start()
    earlier = [start.plus(i) for i in range(max(month.months_since(start), 0))]
    if not earlier:
        return []
    confirmed = set(
        MonthClose.objects.filter(
            billing_month__in=earlier, status=MonthClose.Status.CONFIRMED
        ).values_list("billing_month", flat=True)
    )
    return [
        m
        for m in earlier
        if m not in confirmed and UsageLine.objects.filter(billing_month=m).exists()
    ]


def open_months_message(month: BillingMonth, open_months: list[BillingMonth]) -> str:
    """The one-line refusal of a close that would leave ``open_months`` behind."""
    labels = "、".join(m.label for m in open_months)
    return (
        f"{month.label}より前の{labels}がまだ締められていません"
        f"(先に meisai close {open_months[0]} を実行するか、承知のうえで --force を付けてください)。"
    )
