"""Files for the core system (SPEC 3.6): paper print list and fee list after the close."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from tests.factories import DeliveryPreferenceFactory, MemberFactory, UsageLineFactory
from tests.statements.cycle import close, jst

pytestmark = pytest.mark.django_db


@pytest.fixture
def april_closed():
    web = MemberFactory(member_no="M0000003")
    DeliveryPreferenceFactory(member=web, method="web", recorded_at=jst(2025, 1, 10, 9, 0))
    paper = MemberFactory(
        member_no="M0000002",
        name_kanji="髙橋 花子〜",
        name_kana="タカハシ ハナコ",
        postal_code="020-0022",
        address="岩手県盛岡市大通2−2",
    )
    exempt = MemberFactory(member_no="M0000001", name_kanji="𠮷田 一郎", fee_exempt=True)
    UsageLineFactory(member=web, billing_month="2025-04", billed_amount=1_000)
    UsageLineFactory(member=paper, billing_month="2025-04", billed_amount=2_000)
    UsageLineFactory(member=exempt, billing_month="2025-04", billed_amount=3_000)
    close("2025-04")


def test_paper_list_in_cp932_lists_paper_statements_by_member_no(april_closed, tmp_path):
    output = tmp_path / "paper.csv"

    call_command("export", "paper-list", "2025-04", "-o", str(output))

    assert output.read_bytes().decode("cp932") == (
        "member_no,name_kanji,name_kana,postal_code,address,statement_total,billing_month\r\n"
        # 𠮷 has no cp932 form: replaced visibly by 〓, the export does not fail.
        "M0000001,〓田 一郎,モリオカ タロウ,020-0021,岩手県盛岡市中央通1-1-1,3000,2025-04\r\n"
        # 髙 is in cp932 (IBM extension); 〜 and − are mapped to their cp932 twins ～ and －.
        "M0000002,髙橋 花子～,タカハシ ハナコ,020-0022,岩手県盛岡市大通2－2,2165,2025-04\r\n"
    )


def test_paper_list_twice_gives_the_same_bytes(april_closed, tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    call_command("export", "paper-list", "2025-04", "-o", str(first))
    call_command("export", "paper-list", "2025-04", "-o", str(second))
    assert first.read_bytes() == second.read_bytes()


def test_fees_list_has_amount_net_and_tax(april_closed, tmp_path):
    output = tmp_path / "fees.csv"

    call_command("export", "fees", "2025-04", "-o", str(output), "--encoding", "utf-8")

    assert output.read_bytes().decode("utf-8") == (
        "member_no,billing_month,amount,net,tax\r\nM0000002,2025-04,165,150,15\r\n"
    )


def test_utf8_paper_list_keeps_every_character(april_closed, tmp_path):
    output = tmp_path / "paper.csv"
    call_command("export", "paper-list", "2025-04", "-o", str(output), "--encoding", "utf-8")
    text = output.read_text(encoding="utf-8")
    assert "𠮷田 一郎" in text and "髙橋 花子〜" in text


@pytest.mark.parametrize("kind", ["paper-list", "fees"])
def test_exports_are_refused_before_the_close(kind, tmp_path):
    UsageLineFactory(billing_month="2025-04")
    output = tmp_path / "out.csv"

    with pytest.raises(CommandError, match="締め処理が完了していない"):
        call_command("export", kind, "2025-04", "-o", str(output))

    assert not output.exists()


def test_fee_split_under_changed_configuration_is_refused(april_closed, tmp_path, settings):
    settings.MEISAI_CALENDAR = {**settings.MEISAI_CALENDAR, "paper_fee_net": 200}
    output = tmp_path / "fees.csv"
    with pytest.raises(CommandError, match="165円 は現在の設定"):
        call_command("export", "fees", "2025-04", "-o", str(output))
    assert not output.exists()
