"""meisai import members with the optional debit account columns (SPEC 4.3)."""

from __future__ import annotations

import pytest

from meisai.members.models import Member
from tests.imports.conftest import CARD_1, CARD_2, MEMBERS_HEADER, member_row

pytestmark = pytest.mark.django_db

HEADER = MEMBERS_HEADER + ",debit_bank,debit_branch,debit_account_last4"


def debit() -> list[tuple[str, str, str, str]]:
    return list(
        Member.objects.order_by("member_no").values_list(
            "member_no", "debit_bank", "debit_branch", "debit_account_last4"
        )
    )


def test_the_debit_account_is_stored_and_a_file_without_its_columns_leaves_it(importer):
    importer.products()
    out = importer.run(
        "members",
        importer.write(
            HEADER,
            member_row("M0000001", CARD_1) + ",岩手銀行,盛岡駅前支店,１２３４",
            member_row("M0000002", CARD_2) + ",,,",
        ),
    )
    assert "2 rows; members: 2 new, 0 updated, 0 unchanged" in out
    assert debit() == [
        ("M0000001", "岩手銀行", "盛岡駅前支店", "1234"),
        ("M0000002", None, None, None),
    ]

    # The usual member file, without the optional columns: the debit account is left alone.
    importer.members(member_row("M0000001", CARD_1), member_row("M0000002", CARD_2))
    assert debit() == [
        ("M0000001", "岩手銀行", "盛岡駅前支店", "1234"),
        ("M0000002", None, None, None),
    ]

    out = importer.run(
        "members", importer.write(HEADER, member_row("M0000001", CARD_1) + ",北日本銀行,本店,0042")
    )
    assert "1 rows; members: 0 new, 1 updated, 0 unchanged" in out
    assert debit()[0] == ("M0000001", "北日本銀行", "本店", "0042")


def test_a_longer_account_number_is_refused_and_nothing_is_kept(importer):
    importer.products()
    path = importer.write(
        HEADER,
        member_row("M0000001", CARD_1) + ",岩手銀行,盛岡駅前支店,12345",
        member_row("M0000002", CARD_2) + ",岩手銀行,本店,1234",
        member_row("M0000003", "4980123412340003") + ",,本店,",
    )
    assert importer.refused("members", path) == [
        f"{path}:2: column debit_account_last4: value '12345': not the last four digits of an "
        "account number (4 digits)",
        f"{path}:4: column debit_bank: value '': required with the other debit account columns",
    ]
    assert Member.objects.count() == 0


def test_the_debit_columns_come_together(importer):
    importer.products()
    path = importer.write(MEMBERS_HEADER + ",debit_bank", member_row() + ",岩手銀行")
    assert importer.refused("members", path) == [
        f"{path}: the debit account columns come together: debit_bank, debit_branch and "
        "debit_account_last4 (the header has only debit_bank)"
    ]
    assert Member.objects.count() == 0
