"""The full ご利用代金明細書: every element, page numbers, same bytes, nothing false when data
is missing, and the statements first issued with the earlier layout."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re

import pytest
import time_machine
from pypdf import PdfReader

from meisai.clock import JST
from meisai.members.models import Member
from meisai.statements.models import Statement, StatementBalance
from meisai.statements.pdf import statement_pdf
from meisai.statements.selectors import statement_view
from tests.factories import (
    AccountFactory,
    CardFactory,
    PointBalanceFactory,
    StatementFactory,
    statement_usage_line,
)

pytestmark = pytest.mark.django_db

APRIL_20 = dt.datetime(2025, 4, 20, 12, 0, tzinfo=JST)
ISSUER = {
    "MEISAI_ISSUER_NAME": "日専連テスト",
    "MEISAI_ISSUER_ADDRESS": "〒020-0021 岩手県盛岡市中央通1丁目1番1号",
    "MEISAI_ISSUER_PHONE": "019-000-0000",
    "MEISAI_ISSUER_PHONE_HOURS": "9:00～17:00(土・日・祝日を除く)",
}


@pytest.fixture(autouse=True)
def issuer(settings):
    for name, value in ISSUER.items():
        setattr(settings, name, value)


def _pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


@pytest.fixture
def account():
    return AccountFactory(
        member__name_kanji="盛岡 花子",
        member__member_no="M0001234",
        member__debit_bank="岩手銀行",
        member__debit_branch="盛岡駅前支店",
        member__debit_account_last4="0042",
    )


def _statement(account, *, lines: int = 2, debit: bool = True, fee: int = 165) -> Statement:
    if not debit:
        Member.objects.filter(pk=account.member.pk).update(
            debit_bank=None, debit_branch=None, debit_account_last4=None
        )
    card = CardFactory(member=account.member, number="4980000000001234")
    family = CardFactory(member=account.member, number="4980000000005678")
    amounts = [12000, -3980] + [1000 + n for n in range(lines - 2)]
    statement = StatementFactory(
        member=account.member,
        billing_month="2025-04",
        usage_total=sum(amounts),
        fee_total=fee,
        line_count=lines + (1 if fee else 0),
        points_granted=1000,
        debit_date=dt.date(2025, 4, 28),
        confirmed_at=dt.datetime(2025, 4, 10, 3, 0, tzinfo=JST),
    )
    statement_usage_line(statement, line_no=1, card=card, merchant="盛岡百貨店", use_amount=12000)
    statement_usage_line(
        statement,
        line_no=2,
        card=family,
        merchant="髙橋商店㈱",
        user_kind="家族",
        use_amount=-3980,
        note="返品",
    )
    for n in range(lines - 2):
        statement_usage_line(
            statement, line_no=n + 3, card=card, merchant=f"書店さわや {n}", use_amount=1000 + n
        )
    return statement


def _render(statement: Statement) -> bytes:
    statement = Statement.objects.select_related("member").get(pk=statement.pk)
    return statement_pdf(view=statement_view(statement=statement), issuer="日専連テスト")


@time_machine.travel(APRIL_20, tick=False)
def test_the_pdf_is_a_full_statement(member_client, account):
    statement = _statement(account)
    StatementBalance.objects.create(
        member=statement.member,
        billing_month="2025-04",
        revolving_balance=52000,
        installment_balance=108000,
    )
    PointBalanceFactory(
        member=statement.member,
        as_of=dt.date(2025, 3, 31),
        balance=1200,
        expiring_points=200,
        expires_on=dt.date(2025, 6, 30),
    )
    # Reported after the statement was confirmed: not the statement's figure.
    PointBalanceFactory(member=statement.member, as_of=dt.date(2025, 4, 15), balance=9999)

    pdf = member_client.get("/statements/2025-04.pdf").content
    (text,) = _pages(pdf)

    for expected in (
        "日専連テスト",
        "〒020-0021 岩手県盛岡市中央通1丁目1番1号",
        "お問い合わせ TEL 019-000-0000 受付時間 9:00～17:00(土・日・祝日を除く)",
        "発行日 2025年4月10日(木)",
        "会員番号 M0001234",
        "ご利用代金明細書 2025年4月請求分",
        "盛岡 花子 様",
        "****-****-****-1234",
        "****-****-****-5678",
        "お引落口座 岩手銀行 盛岡駅前支店 口座番号末尾 0042",
        "お引落日 2025年4月28日(月)",
        "備考",
        "返品",
        "盛岡百貨店",
        "髙橋商店㈱",
        "分割払い残高",
        "108,000円",
        "リボ払い残高",
        "52,000円",
        "ポイント残高(2025年3月31日(月)現在)",
        "1,200ポイント",
        "うち2025年6月30日(月)失効予定",
        "200ポイント",
        "今回付与ポイント",
        "1,000ポイント",
        "8,185円",  # 12,000 − 3,980 + 165
        "1/1",
    ):
        assert expected in text, expected
    assert text.count("紙明細発行手数料") == 1
    assert "9,999ポイント" not in text
    assert "4980000000001234" not in text


@time_machine.travel(APRIL_20, tick=False)
def test_a_long_statement_numbers_its_pages(member_client, account):
    statement = _statement(account, lines=120)

    pages = _pages(member_client.get("/statements/2025-04.pdf").content)

    assert len(pages) == 3
    for number, text in enumerate(pages, start=1):
        assert re.search(rf"(?m)^{number}/3$", text), number
    assert "ご利用代金明細書 2025年4月請求分(続き)" in pages[1]
    assert "会員番号 M0001234" in pages[2]
    assert "".join(pages).count("紙明細発行手数料") == 1
    assert statement.line_count == 121


@time_machine.travel(APRIL_20, tick=False)
def test_the_same_statement_renders_to_the_same_bytes_and_its_sha256_is_recorded(
    member_client, account
):
    statement = _statement(account, lines=60)

    first = member_client.get("/statements/2025-04.pdf").content
    second = member_client.get("/statements/2025-04.pdf").content

    assert first == second == _render(statement)
    statement.refresh_from_db()
    assert statement.pdf_sha256 == hashlib.sha256(first).hexdigest()


@time_machine.travel(APRIL_20, tick=False)
def test_without_debit_account_balances_or_points_the_pdf_says_nothing_of_them(
    member_client, account
):
    _statement(account, debit=False, fee=0)

    (text,) = _pages(member_client.get("/statements/2025-04.pdf").content)

    for absent in ("お引落口座", "口座番号", "残高", "失効", "紙明細発行手数料", "手数料"):
        assert absent not in text, absent
    for present in ("会員番号 M0001234", "盛岡 花子 様", "お引落日 2025年4月28日(月)", "1/1"):
        assert present in text, present


#: The SHA-256 of ``_statement()``'s PDF as the code before the full layout (git 535dbb4)
#: rendered it: what the database recorded for statements first served before this change.
EARLIER_LAYOUT_SHA256 = "4163ff0cba8d66cbc03ff37c7c5ffaa871996fd8233270a87fdbeed289223340"


@time_machine.travel(APRIL_20, tick=False)
def test_a_statement_first_issued_with_the_earlier_layout_keeps_its_document(
    member_client, account
):
    """Its digest can never change (the database refuses it), so it is served, byte for byte,
    the document first issued; the full layout is for statements first rendered from now on."""
    statement = _statement(account)
    full = _render(statement)
    Statement.objects.filter(pk=statement.pk).update(pdf_sha256=EARLIER_LAYOUT_SHA256)

    response = member_client.get("/statements/2025-04.pdf")

    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == EARLIER_LAYOUT_SHA256
    assert response.content != full
    (text,) = _pages(response.content)
    assert "盛岡 花子 様" in text and "お引落口座" not in text


@time_machine.travel(APRIL_20, tick=False)
def test_a_rendering_matching_neither_layout_is_still_refused(member_client, account):
    statement = _statement(account)
    Statement.objects.filter(pk=statement.pk).update(pdf_sha256="0" * 64)

    response = member_client.get("/statements/2025-04.pdf")

    assert response.status_code == 500
    assert "PDFをご用意できませんでした" in response.content.decode()


def test_a_pdf_keeps_its_bytes_after_the_members_name_and_debit_account_change(member_client):
    """The close keeps the member as they stood (name, debit account) on the statement: after
    the next members import renames them or moves their debit, the PDF first served renders to
    the same bytes, where it used to fail its recorded SHA-256 (and the member got an error)."""
    from tests.factories import UsageLineFactory
    from tests.statements.cycle import close, publish

    account = AccountFactory(
        member__name_kanji="盛岡 花子",
        member__debit_bank="岩手銀行",
        member__debit_branch="盛岡駅前支店",
        member__debit_account_last4="0042",
    )
    member = account.member
    UsageLineFactory(member=member, card=CardFactory(member=member), billing_month="2025-04")
    close("2025-04")
    publish("2025-04")
    member_client.force_login(account)
    with time_machine.travel(APRIL_20, tick=False):
        first = member_client.get("/statements/2025-04.pdf")
        assert first.status_code == 200 and first["Content-Type"] == "application/pdf"
        Member.objects.filter(pk=member.pk).update(
            name_kanji="仙台 花子",
            debit_bank="七十七銀行",
            debit_branch="本店",
            debit_account_last4="9999",
        )
        again = member_client.get("/statements/2025-04.pdf")
    assert again.status_code == 200 and again.content == first.content
    text = "".join(_pages(again.content))
    assert "盛岡 花子" in text and "岩手銀行" in text and "0042" in text
    assert "仙台" not in text and "七十七銀行" not in text
    statement = Statement.objects.get(member=member, billing_month="2025-04")
    assert (statement.holder_name, statement.debit_account_last4) == ("盛岡 花子", "0042")
