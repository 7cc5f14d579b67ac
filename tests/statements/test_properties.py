"""Property test of the monthly cycle: random imports, preference changes, closes and re-closes.

Whatever happens, in time order: every statement adds up to its lines, carries the paper fee
exactly when its delivery was paper and SPEC 3.3 allows it, was delivered as the preference in
force at the cutoff said, and no member ever gets a campaign's points twice.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meisai import billing_calendar as cal
from meisai.billing_calendar import BillingMonth
from meisai.clock import JST
from meisai.members.delivery import delivery_method_at
from meisai.members.models import DeliveryPreference
from meisai.points.eligibility import campaign_window_bounds
from meisai.points.models import PointEntry
from meisai.points.services import campaign_load_defaults
from meisai.statements.close import statement_close
from meisai.statements.models import MonthClose, Statement, UsageLine
from meisai.statements.selectors import statement_lines
from tests.factories import MemberFactory, UsageLineFactory

pytestmark = pytest.mark.django_db

MONTHS = [BillingMonth(2025, m) for m in (3, 4, 5, 6)]
START = dt.datetime(2024, 11, 1, tzinfo=JST)
END = dt.datetime(2025, 7, 31, tzinfo=JST)

member_flags = st.fixed_dictionaries(
    {
        "fee_exempt": st.booleans(),
        "paper_required": st.booleans(),
        "program_excluded": st.booleans(),
        "cancelled_on": st.one_of(
            st.none(), st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2025, 6, 30))
        ),
    }
)
moments = st.datetimes(
    min_value=START.replace(tzinfo=None), max_value=END.replace(tzinfo=None)
).map(lambda moment: moment.replace(tzinfo=JST))
# Moments near the edges that matter: the 9th cutoff and the campaign window's ends.
edge_moments = st.sampled_from(
    [
        dt.datetime(2025, 4, 9, 23, 59, 59, tzinfo=JST),
        dt.datetime(2025, 4, 10, 0, 0, 0, tzinfo=JST),
        dt.datetime(2024, 11, 13, 0, 0, 0, tzinfo=JST),
        dt.datetime(2025, 2, 28, 23, 59, 59, tzinfo=JST),
        dt.datetime(2025, 3, 1, 0, 0, 0, tzinfo=JST),
        dt.datetime(2025, 5, 9, 23, 59, 59, tzinfo=JST),
    ]
)
preference = st.tuples(
    st.just("preference"),
    st.one_of(moments, edge_moments),
    st.integers(0, 3),
    st.sampled_from(["web", "paper"]),
    st.sampled_from(["registration", "member", "operator", "import"]),
)
usage = st.tuples(
    st.just("usage"),
    st.integers(0, 24 * 30),  # hours before the month's cutoff (some arrive after a close)
    st.integers(0, 3),
    st.integers(0, len(MONTHS) - 1),
    st.integers(-5_000, 50_000),
)
close = st.tuples(
    st.just("close"),
    st.integers(0, len(MONTHS) - 1),
    st.integers(0, 24 * 40),  # hours after the month's cutoff
    st.booleans(),  # dry run
    # Random closes come in any order: past an open earlier month only with force (month_rules).
    st.just(True),  # force
)


def close_moment(month_index: int, hours: int) -> dt.datetime:
    return cal.registration_cutoff(MONTHS[month_index]) + dt.timedelta(hours=hours)


def snapshot() -> tuple[list, list, list, list]:
    return (
        list(Statement.objects.order_by("id").values_list()),
        list(UsageLine.objects.order_by("id").values_list()),
        list(PointEntry.objects.order_by("id").values_list()),
        list(MonthClose.objects.order_by("id").values_list()),
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    flags=st.lists(member_flags, min_size=4, max_size=4),
    events=st.lists(st.one_of(preference, usage, close), min_size=4, max_size=24),
)
def test_monthly_cycle_invariants(flags, events):
    with transaction.atomic():
        run_and_check(flags, events)
        transaction.set_rollback(True)


def run_and_check(flags, events):
    campaign = campaign_load_defaults(actor="test")
    members = [
        MemberFactory(
            fee_exempt=f["fee_exempt"],
            paper_required=f["paper_required"],
            program_excluded=f["program_excluded"],
            status="cancelled" if f["cancelled_on"] else "active",
            cancelled_on=f["cancelled_on"],
        )
        for f in flags
    ]
    timeline = []
    for event in events:
        if event[0] == "close":
            timeline.append((close_moment(event[1], event[2]), event))
        elif event[0] == "usage":
            moment = cal.registration_cutoff(MONTHS[event[3]]) - dt.timedelta(hours=event[1])
            timeline.append((moment, event))
        else:
            timeline.append((event[1], event))
    # At the end every month is closed (or re-closed) once more, in order, as operations would.
    for index in range(len(MONTHS)):
        timeline.append((close_moment(index, 24 * 45), ("close", index, 24 * 45, False, False)))
    timeline.sort(key=lambda item: item[0])

    line_numbers: dict[tuple[int, str], int] = {}
    for moment, event in timeline:
        if event[0] == "preference":
            _, _, who, method, source = event
            DeliveryPreference.objects.create(
                member=members[who],
                method=method,
                recorded_at=moment,
                source=source,
                reason="電話受付" if source == "operator" else "",
            )
        elif event[0] == "usage":
            _, _, who, month_index, amount = event
            month = str(MONTHS[month_index])
            if MonthClose.objects.filter(billing_month=month, status="confirmed").exists():
                continue  # the usage import refuses lines of a confirmed month
            key = (who, month)
            line_numbers[key] = line_numbers.get(key, 0) + 1
            UsageLineFactory(
                member=members[who],
                billing_month=month,
                line_no=line_numbers[key],
                use_amount=amount,
                billed_amount=amount,
            )
        else:
            _, month_index, _, dry_run, force = event
            before = snapshot()
            already = MonthClose.objects.filter(
                billing_month=str(MONTHS[month_index]), status="confirmed"
            ).exists()
            with time_machine.travel(moment, tick=False):
                result = statement_close(
                    month=MONTHS[month_index], actor="property", dry_run=dry_run, force=force
                )
            if dry_run or already:
                assert snapshot() == before  # a dry run or a re-close writes nothing
            assert result.reconciled

    check_invariants(members, campaign)

    # Re-closing every confirmed month changes nothing.
    before = snapshot()
    for record in MonthClose.objects.filter(status="confirmed"):
        month = record.billing_month
        with time_machine.travel(close_moment(MONTHS.index(month), 24 * 50), tick=False):
            assert statement_close(month=month, actor="property").outcome == "already_confirmed"
    assert snapshot() == before


def check_invariants(members, campaign):
    fee_net, fee_tax = cal.paper_fee_amount()
    for statement in Statement.objects.select_related("member"):
        member = statement.member
        month = statement.billing_month
        # A statement's lines: the member's usage lines of the month + the lines it carries.
        lines = statement_lines(statement=statement)
        assert statement.total == sum(line.billed_amount for line in lines)
        assert statement.total == statement.usage_total + statement.fee_total
        assert statement.line_count == len(lines)
        usage = member.usage_lines.filter(billing_month=statement.billing_month)
        assert statement.usage_total == usage.aggregate(total=Sum("billed_amount"))["total"]
        usage_pks = [line.pk for line in lines if isinstance(line, UsageLine)]
        assert sorted(usage_pks) == sorted(usage.values_list("pk", flat=True))

        preferred = delivery_method_at(member=member, moment=cal.registration_cutoff(month))
        forced_paper = member.program_excluded or member.paper_required
        assert statement.delivery == ("paper" if forced_paper else preferred)

        fee_lines = [line for line in lines if line.kind == "paper_fee"]
        fee_due = (
            statement.delivery == "paper"
            and month >= cal.paper_fee_start()
            and not (member.program_excluded or member.fee_exempt or member.paper_required)
        )
        assert len(fee_lines) == (1 if fee_due else 0)
        assert statement.fee_total == (fee_net + fee_tax if fee_due else 0)

    # No statement without usage lines.
    for record in MonthClose.objects.filter(status="confirmed"):
        with_lines = set(
            Statement.objects.filter(billing_month=record.billing_month).values_list(
                "member_id", flat=True
            )
        )
        expected = set(
            member.id
            for member in members
            if member.usage_lines.filter(billing_month=record.billing_month).exists()
        )
        assert with_lines == expected

    # At most one grant per member and campaign, and exactly to those who qualify.
    start, end = campaign_window_bounds(campaign)
    april_closed = MonthClose.objects.filter(billing_month="2025-04", status="confirmed").exists()
    grant_day = cal.confirmation_date(BillingMonth(2025, 4))
    for member in members:
        grants = PointEntry.objects.filter(member=member, campaign=campaign).count()
        assert grants <= 1
        qualifies = (
            april_closed
            and not member.program_excluded
            and not (member.cancelled_on and member.cancelled_on <= grant_day)
            and member.delivery_history.filter(
                method="web",
                source__in=["registration", "member"],
                recorded_at__gte=start,
                recorded_at__lt=end,
            ).exists()
        )
        assert grants == (1 if qualifies else 0)
