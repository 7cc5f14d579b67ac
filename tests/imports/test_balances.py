"""meisai import balances: the リボ and 分割 balances left after a billing month (SPEC 4.3)."""

from __future__ import annotations

import datetime as dt

import pytest

from meisai.audit.models import AuditEntry
from meisai.imports.models import ImportBatch
from meisai.statements.models import MonthClose, StatementBalance
from tests.imports.conftest import CARD_1, CARD_2, member_row

pytestmark = pytest.mark.django_db

BALANCES_HEADER = "member_no,billing_month,revolving_balance,installment_balance"


@pytest.fixture
def members(importer):
    importer.products()
    importer.members(member_row("M0000001", CARD_1), member_row("M0000002", CARD_2))


def stored() -> list[tuple[str, str, int, int]]:
    return [
        (no, str(month), revolving, installment)
        for no, month, revolving, installment in StatementBalance.objects.order_by(
            "member__member_no", "billing_month"
        ).values_list(
            "member__member_no", "billing_month", "revolving_balance", "installment_balance"
        )
    ]


def test_balances_are_imported_then_corrected_before_the_close(importer, members):
    out = importer.run(
        "balances",
        importer.write(
            BALANCES_HEADER, "M0000001,2025-04,52000,108000", "M0000002,２０２５-04,０,0"
        ),
    )
    assert "2 rows; rows: 2 new, 0 updated, 0 unchanged" in out
    assert stored() == [("M0000001", "2025-04", 52000, 108000), ("M0000002", "2025-04", 0, 0)]
    assert AuditEntry.objects.filter(action="import_balances").count() == 1

    out = importer.run(
        "balances",
        importer.write(BALANCES_HEADER, "M0000001,2025-04,50000,108000", "M0000002,2025-04,0,0"),
    )
    assert "2 rows; rows: 0 new, 1 updated, 1 unchanged" in out
    assert stored() == [("M0000001", "2025-04", 50000, 108000), ("M0000002", "2025-04", 0, 0)]


def test_balance_errors_are_one_line_each_and_nothing_is_kept(importer, members):
    path = importer.write(
        BALANCES_HEADER,
        "M0000001,2025-04,52000,108000",
        "M0000001,2025-05,1200.5,0",
        "M0000002,2025-13,0,0",
        "M0000002,2025-04,-1,0",
        "M0000009,2025-04,0,0",
        "M0000002,2025-05,0,99999999999999999999",
        "M0000001,2025-04,0,0",
    )
    assert importer.refused("balances", path) == [
        f"{path}:3: column revolving_balance: value '1200.5': has a decimal point: amounts are "
        "whole yen",
        f"{path}:4: column billing_month: value '2025-13': not a billing month in the form YYYY-MM",
        f"{path}:5: column revolving_balance: value '-1': negative: a remaining balance is never "
        "below zero",
        f"{path}:6: column member_no: value 'M0000009': unknown member number",
        f"{path}:7: column installment_balance: value '99999999999999999999': too large: at most "
        "9,223,372,036,854,775,807",
        f"{path}:8: column billing_month: value '2025-04': duplicate: this member's balances of "
        "this month are already on line 2",
    ]
    # All or nothing: line 2 was good, and it is not kept either.
    assert StatementBalance.objects.count() == 0
    assert ImportBatch.objects.get(kind="balances").status == ImportBatch.Status.FAILED


def test_the_same_file_twice_changes_nothing(importer, members):
    path = importer.write(BALANCES_HEADER, "M0000001,2025-04,52000,108000")
    importer.run("balances", path)
    before = stored()

    out = importer.run("balances", path)

    assert out.startswith(f"{path}: already imported (batch ")
    assert stored() == before
    assert AuditEntry.objects.filter(action="import_balances").count() == 1


def test_a_confirmed_month_refuses_new_balances(importer, members):
    importer.run("balances", importer.write(BALANCES_HEADER, "M0000001,2025-04,52000,108000"))
    MonthClose.objects.create(
        billing_month="2025-04",
        status=MonthClose.Status.CONFIRMED,
        started_at=dt.datetime(2025, 4, 10, tzinfo=dt.UTC),
    )
    path = importer.write(
        BALANCES_HEADER, "M0000001,2025-04,0,0", "M0000002,2025-04,1000,0", "M0000002,2025-05,1,2"
    )

    assert importer.refused("balances", path) == [
        f"{path}:2: column billing_month: value '2025-04': the billing month is already confirmed "
        "(締め済み): corrections go into a later month",
        f"{path}:3: column billing_month: value '2025-04': the billing month is already confirmed "
        "(締め済み): corrections go into a later month",
    ]
    assert stored() == [("M0000001", "2025-04", 52000, 108000)]
