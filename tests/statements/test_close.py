"""The monthly close (SPEC 3.2, 3.3, 3.6) in the flyer's own scenarios, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.core.management import CommandError, call_command

from meisai import billing_calendar as cal
from meisai.audit.models import AuditEntry
from meisai.billing_calendar import BillingMonth
from meisai.members.delivery import delivery_method_at
from meisai.members.models import DeliveryPreference
from meisai.statements import close as close_module
from meisai.statements import fees
from meisai.statements.close import CloseRefused, ReconciliationError, statement_close
from meisai.statements.models import LineKind, MonthClose, Statement, UsageLine
from meisai.statements.selectors import statement_lines
from tests.factories import (
    CardFactory,
    DeliveryPreferenceFactory,
    MemberFactory,
    ProductFactory,
    UsageLineFactory,
)
from tests.statements.cycle import close, jst

pytestmark = pytest.mark.django_db

APRIL = BillingMonth(2025, 4)
MAY = BillingMonth(2025, 5)


def registered_web(member, at: dt.datetime, source: str = DeliveryPreference.Source.REGISTRATION):
    return DeliveryPreferenceFactory(member=member, method="web", recorded_at=at, source=source)


def statement_of(member, month: str) -> Statement:
    return Statement.objects.get(member=member, billing_month=month)


# --- the 9th cutoff (SPEC 3.2): the SQL of the close and the python selector agree ------------


def test_registered_2025_04_09_23_59_59_gets_april_on_the_web_without_fee():
    member = MemberFactory()
    registered_web(member, jst(2025, 4, 9, 23, 59, 59))
    UsageLineFactory(member=member, billing_month="2025-04", billed_amount=12_000)

    close("2025-04")

    statement = statement_of(member, "2025-04")
    assert delivery_method_at(member=member, moment=cal.registration_cutoff(APRIL)) == "web"
    assert statement.delivery == "web"
    assert (statement.usage_total, statement.fee_total, statement.total) == (12_000, 0, 12_000)
    assert [line.kind for line in statement_lines(statement=statement)] == ["usage"]


def test_registered_2025_04_10_00_00_00_gets_april_on_paper_with_165_yen_and_may_on_the_web():
    member = MemberFactory()
    registered_web(member, jst(2025, 4, 10, 0, 0, 0))
    UsageLineFactory(member=member, billing_month="2025-04", line_no=1, billed_amount=12_000)
    UsageLineFactory(member=member, billing_month="2025-05", line_no=1, billed_amount=3_000)

    close("2025-04")
    close("2025-05")

    assert delivery_method_at(member=member, moment=cal.registration_cutoff(APRIL)) == "paper"
    assert delivery_method_at(member=member, moment=cal.registration_cutoff(MAY)) == "web"
    april = statement_of(member, "2025-04")
    assert april.delivery == "paper"
    assert (april.usage_total, april.fee_total, april.total) == (12_000, 165, 12_165)
    assert april.line_count == 2
    fee = statement_lines(statement=april)[-1]
    assert fee.kind == LineKind.PAPER_FEE
    assert (fee.line_no, fee.merchant, fee.billed_amount, fee.use_amount) == (
        2,
        "紙明細発行手数料(税込)",
        165,
        165,
    )
    may = statement_of(member, "2025-05")
    assert (may.delivery, may.fee_total, may.total) == ("web", 0, 3_000)


def test_the_latest_preference_before_the_cutoff_wins_and_going_back_to_paper_counts():
    member = MemberFactory()
    registered_web(member, jst(2025, 3, 1, 10, 0))
    DeliveryPreferenceFactory(
        member=member, method="paper", recorded_at=jst(2025, 4, 5, 10, 0), source="member"
    )
    UsageLineFactory(member=member, billing_month="2025-04")

    close("2025-04")

    assert delivery_method_at(member=member, moment=cal.registration_cutoff(APRIL)) == "paper"
    assert statement_of(member, "2025-04").fee_total == 165


def test_a_member_who_never_chose_gets_paper():
    member = MemberFactory()
    UsageLineFactory(member=member, billing_month="2025-04", billed_amount=1_000)

    close("2025-04")

    statement = statement_of(member, "2025-04")
    assert (statement.delivery, statement.fee_total, statement.total) == ("paper", 165, 1_165)


# --- paper fee exceptions (SPEC 3.3) ---------------------------------------------------------


def test_iris_member_is_never_charged():
    iris = ProductFactory(code="IRIS", name="IRISカード", program_excluded=True)
    member = MemberFactory(program_excluded=True)
    CardFactory(member=member, product=iris)
    UsageLineFactory(member=member, billing_month="2025-04", billed_amount=8_000)

    close("2025-04")

    statement = statement_of(member, "2025-04")
    assert (statement.delivery, statement.fee_total, statement.total) == ("paper", 0, 8_000)
    assert [line.kind for line in statement_lines(statement=statement)] == ["usage"]


def test_fee_exempt_member_is_never_charged():
    member = MemberFactory(fee_exempt=True)
    UsageLineFactory(member=member, billing_month="2025-04", billed_amount=8_000)

    close("2025-04")

    statement = statement_of(member, "2025-04")
    assert (statement.delivery, statement.fee_total, statement.total) == ("paper", 0, 8_000)


def test_paper_required_member_gets_paper_without_fee_even_with_a_web_preference():
    member = MemberFactory(paper_required=True)
    registered_web(member, jst(2025, 1, 5, 10, 0))
    UsageLineFactory(member=member, billing_month="2025-04", billed_amount=8_000)

    close("2025-04")

    statement = statement_of(member, "2025-04")
    assert (statement.delivery, statement.fee_total, statement.total) == ("paper", 0, 8_000)


def test_a_month_without_lines_has_no_statement_and_no_fee():
    quiet = MemberFactory()
    busy = MemberFactory()
    UsageLineFactory(member=busy, billing_month="2025-04")
    UsageLineFactory(member=quiet, billing_month="2025-03")
    close("2025-03")  # months are closed in order (month_rules)

    result = close("2025-04")

    assert not Statement.objects.filter(member=quiet, billing_month="2025-04").exists()
    assert result.statements == 1
    assert result.fees == 1


def test_no_fee_before_april_2025():
    member = MemberFactory()
    UsageLineFactory(member=member, billing_month="2025-03", billed_amount=4_000)

    close("2025-03")

    statement = statement_of(member, "2025-03")
    assert (statement.delivery, statement.fee_total, statement.total) == ("paper", 0, 4_000)


# --- what the close writes ------------------------------------------------------------------


def test_the_statement_reads_the_usage_lines_in_statement_order_with_the_fee_last():
    member = MemberFactory()
    card_a = CardFactory(member=member)
    card_b = CardFactory(member=member)
    UsageLineFactory(
        member=member, card=card_b, line_no=1, use_date=dt.date(2025, 3, 2), merchant="B1"
    )
    UsageLineFactory(
        member=member,
        card=card_a,
        line_no=2,
        use_date=dt.date(2025, 3, 9),
        merchant="A-family",
        user_kind="家族",
    )
    UsageLineFactory(
        member=member, card=card_a, line_no=3, use_date=dt.date(2025, 3, 20), merchant="A-self"
    )
    UsageLineFactory(
        member=member,
        card=card_a,
        line_no=4,
        use_date=dt.date(2025, 3, 5),
        merchant="A-self-early",
        use_amount=30_000,
        billed_amount=10_000,
        payment_type="分割",
        installment="1/3",
        note="分割1回目",
    )

    close("2025-04")

    statement = statement_of(member, "2025-04")
    lines = [
        (
            type(line).__name__,
            line.kind,
            line.line_no,
            line.merchant,
            line.use_amount,
            line.billed_amount,
            line.installment,
            line.note,
        )
        for line in statement_lines(statement=statement)
    ]
    # The usage lines keep the core system's line numbers; the fee line is the last position.
    assert lines == [
        ("UsageLine", "usage", 4, "A-self-early", 30_000, 10_000, "1/3", "分割1回目"),
        ("UsageLine", "usage", 3, "A-self", 5_000, 5_000, "", ""),
        ("UsageLine", "usage", 2, "A-family", 5_000, 5_000, "", ""),
        ("UsageLine", "usage", 1, "B1", 5_000, 5_000, "", ""),
        ("FeeLine", "paper_fee", 5, "紙明細発行手数料(税込)", 165, 165, "", ""),
    ]
    assert statement.line_count == 5


def test_another_members_or_months_usage_lines_are_not_on_the_statement():
    member = MemberFactory()
    UsageLineFactory(member=member, billing_month="2025-04", line_no=1, merchant="mine")
    UsageLineFactory(member=member, billing_month="2025-05", line_no=1, merchant="next month")
    UsageLineFactory(billing_month="2025-04", line_no=1, merchant="someone else")

    close("2025-04")

    merchants = [
        line.merchant for line in statement_lines(statement=statement_of(member, "2025-04"))
    ]
    assert merchants == ["mine", "紙明細発行手数料(税込)"]


def test_close_confirms_with_debit_date_record_and_audit():
    web = MemberFactory()
    registered_web(web, jst(2025, 2, 1, 9, 0))
    paper = MemberFactory()
    UsageLineFactory(member=web, billing_month="2025-04", line_no=1, billed_amount=10_000)
    UsageLineFactory(member=web, billing_month="2025-04", line_no=2, billed_amount=-2_000)
    UsageLineFactory(member=paper, billing_month="2025-04", line_no=1, billed_amount=7_000)

    result = close("2025-04", at=jst(2025, 4, 11, 8, 30))

    assert result.outcome == "confirmed"
    assert (result.statements, result.web_statements, result.paper_statements) == (2, 1, 1)
    assert (result.usage_lines, result.usage_total) == (3, 15_000)
    assert (result.fees, result.fee_total, result.statement_total) == (1, 165, 15_165)
    # 2025-04-26 is a Saturday: the debit moves to Monday the 28th.
    assert result.debit_date == dt.date(2025, 4, 28)
    assert set(Statement.objects.values_list("debit_date", flat=True)) == {dt.date(2025, 4, 28)}
    assert set(Statement.objects.values_list("confirmed_at", flat=True)) == {
        jst(2025, 4, 11, 8, 30)
    }
    record = MonthClose.objects.get(billing_month="2025-04")
    assert record.status == MonthClose.Status.CONFIRMED
    assert record.closed_by == "test-operator"
    assert record.confirmed_at == jst(2025, 4, 11, 8, 30)
    assert (record.statements, record.web_statements, record.paper_statements, record.fees) == (
        2,
        1,
        1,
        1,
    )
    assert (record.usage_total, record.fee_total, record.statement_total) == (15_000, 165, 15_165)
    entry = AuditEntry.objects.get(action="statement_close")
    assert entry.actor == "test-operator"
    assert entry.detail["statement_total"] == 15_165
    assert "  照合: 取込明細合計 15,000円 = 請求額合計 15,165円 − 手数料 165円 … 一致" in (
        result.report_lines()
    )


def test_a_second_close_changes_nothing():
    member = MemberFactory()
    UsageLineFactory(member=member, billing_month="2025-04", billed_amount=3_000)
    first = close("2025-04")
    before = list(Statement.objects.values_list("id", "total", "confirmed_at"))
    usage_before = list(UsageLine.objects.values_list("id", "billed_amount"))

    again = close("2025-04", at=jst(2025, 4, 20, 10, 0))

    assert first.changed and not again.changed
    assert again.outcome == "already_confirmed"
    assert (again.statements, again.statement_total, again.fee_total) == (1, 3_165, 165)
    assert list(Statement.objects.values_list("id", "total", "confirmed_at")) == before
    assert list(UsageLine.objects.values_list("id", "billed_amount")) == usage_before
    assert MonthClose.objects.get().confirmed_at == jst(2025, 4, 11, 12, 0)


def test_dry_run_reports_and_writes_nothing():
    member = MemberFactory()
    UsageLineFactory(member=member, billing_month="2025-04", billed_amount=3_000)
    audits = AuditEntry.objects.count()

    result = close("2025-04", dry_run=True)

    assert result.outcome == "dry_run"
    assert (result.statements, result.fees, result.statement_total) == (1, 1, 3_165)
    assert Statement.objects.count() == 0
    assert MonthClose.objects.count() == 0
    assert AuditEntry.objects.count() == audits


def test_close_before_the_cutoff_is_refused_and_changes_nothing():
    member = MemberFactory()
    UsageLineFactory(member=member, billing_month="2025-04")

    with pytest.raises(CloseRefused, match="2025-04-10 00:00"):
        close("2025-04", at=jst(2025, 4, 9, 23, 59, 59))

    assert Statement.objects.count() == 0
    assert MonthClose.objects.count() == 0


def test_a_close_that_does_not_reconcile_confirms_nothing_and_records_the_failure(monkeypatch):
    member = MemberFactory()
    UsageLineFactory(member=member, billing_month="2025-04", billed_amount=3_000)
    insert_statements = close_module._insert_statements

    def one_line_missed(*, month, moment):
        insert_statements(month=month, moment=moment)
        # A line the statements did not take in: only the reconciliation can tell.
        UsageLineFactory(billing_month=str(month), line_no=1, billed_amount=1)

    monkeypatch.setattr(close_module, "_insert_statements", one_line_missed)

    with pytest.raises(ReconciliationError, match="照合が一致しません"):
        close("2025-04")

    assert Statement.objects.count() == 0
    record = MonthClose.objects.get(billing_month="2025-04")
    assert record.status == MonthClose.Status.FAILED
    assert "照合が一致しません" in record.error
    assert record.statements == 0

    monkeypatch.setattr(close_module, "_insert_statements", insert_statements)
    assert close("2025-04").outcome == "confirmed"
    assert MonthClose.objects.get().error == ""


# --- the command line ----------------------------------------------------------------------


def test_close_command_prints_the_reconciliation(capsys, time_machine):
    member = MemberFactory()
    UsageLineFactory(member=member, billing_month="2025-04", billed_amount=3_000)
    time_machine.move_to(jst(2025, 4, 11, 12, 0), tick=False)

    call_command("close", "2025-04", "--dry-run")
    dry = capsys.readouterr().out
    call_command("close", "2025-04", "--actor", "山田")
    done = capsys.readouterr().out
    call_command("close", "2025-04")
    again = capsys.readouterr().out

    assert "ドライラン" in dry and "明細書: 1件 (WEB 0 / 紙 1)" in dry
    assert "2025年4月請求分: 確定しました。" in done
    assert "一致" in done and "請求額合計: 3,165円" in done
    assert "確定済みのため、何も変更していません。" in again
    assert MonthClose.objects.get().closed_by == "山田"


def test_close_command_names_a_bad_month():
    with pytest.raises(CommandError, match="2025-13"):
        call_command("close", "2025-13")


def test_service_interface_keyword_only():
    with pytest.raises(TypeError, match="positional argument"):
        statement_close(APRIL, "x")  # type: ignore[misc]


def test_the_close_and_the_member_pages_apply_the_same_paper_fee_rule():
    """Every combination of the exempting flags, before and from the fee's first month: the fee
    the close puts on a paper statement is the one ``fees.paper_fee_for`` announces."""
    flags = list(itertools.product([False, True], repeat=3))
    members = []
    for n, (excluded, exempt, required) in enumerate(flags):
        member = MemberFactory(
            program_excluded=excluded, fee_exempt=exempt, paper_required=required
        )
        for month in ("2025-03", "2025-04"):
            UsageLineFactory(member=member, billing_month=month, line_no=n + 1, billed_amount=100)
        members.append(member)
    close("2025-03")
    close("2025-04")
    for member in members:
        for month in ("2025-03", "2025-04"):
            statement = statement_of(member, month)
            assert statement.delivery == "paper"
            expected = fees.paper_fee_for(member=member, month=BillingMonth.parse(month))
            assert statement.fee_total == expected, (member.pk, month)
    charged = [m for m in members if statement_of(m, "2025-04").fee_total]
    assert len(charged) == 1 and statement_of(charged[0], "2025-04").fee_total == 165
