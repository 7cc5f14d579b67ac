"""The full layout's bytes are pinned: a faster drawing must render every statement to the
document already issued (its SHA-256 is recorded on first download and checked ever after).

The statements are built in memory, so nothing but the layout code, ReportLab and the fonts
decides the digests. A change of any of these that alters the bytes fails here first; it then
needs a frozen layout (see ``meisai.statements.pdf``), never a new digest in this file."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from meisai.billing_calendar import BillingMonth
from meisai.clock import JST
from meisai.members.models import Card, Member
from meisai.points.models import PointBalance
from meisai.statements.models import Statement, StatementBalance, UsageLine
from meisai.statements.pdf import _first_layout_pdf, statement_pdf
from meisai.statements.selectors import FeeLine, LineGroup, StatementView

ISSUER = "日専連パートナーズ"
MERCHANTS = [
    "盛岡百貨店",
    "コンビニエンスストア盛岡駅前店",
    "ガソリンスタンド北上",
    "髙橋商店㈱",
    # Wider than the column: shrunk, then cut with an ellipsis.
    "ＪＲ東日本 えきねっと 新幹線特急券・指定席券 盛岡―東京 往復 大人二名様分",
    "𠮷野家 盛岡店",  # 𠮷 is drawn with the fallback font
]


@pytest.fixture(autouse=True)
def issuer(settings):
    settings.MEISAI_ISSUER_ADDRESS = "〒020-0021 岩手県盛岡市中央通1丁目1番1号"
    settings.MEISAI_ISSUER_PHONE = "019-000-0000"
    settings.MEISAI_ISSUER_PHONE_HOURS = "9:00～17:00(土・日・祝日を除く)"


def _view(*, lines: int, extras: bool) -> StatementView:
    member = Member(
        name_kanji="𠮷田 花子",
        member_no="M0001234",
        debit_bank="岩手銀行" if extras else None,
        debit_branch="盛岡駅前支店" if extras else None,
        debit_account_last4="0042" if extras else None,
    )
    cards = [Card(pk=1, last4="1234"), Card(pk=2, last4="5678")]
    amounts = [(n * 1371) % 20000 + 100 - (4000 if n == 5 else 0) for n in range(lines)]
    statement = Statement(
        member=member,
        billing_month="2025-04",
        usage_total=sum(amounts),
        fee_total=165,
        total=sum(amounts) + 165,
        line_count=lines + 1,
        points_granted=1000,
        debit_date=dt.date(2025, 4, 28),
        confirmed_at=dt.datetime(2025, 4, 10, 3, 0, tzinfo=JST),
    )
    rows = [
        UsageLine(
            member=member,
            billing_month="2025-04",
            line_no=n + 1,
            card=cards[n % 2],
            use_date=dt.date(2025, 3, n % 28 + 1),
            merchant=f"{MERCHANTS[n % len(MERCHANTS)]} {n + 1}",
            user_kind="本人" if n % 4 else "家族",
            payment_type="1回" if n % 7 else "分割",
            installment="" if n % 7 else "2/10",
            use_amount=amount,
            billed_amount=amount,
            note="返品" if n == 5 else "",
        )
        for n, amount in enumerate(amounts)
    ]
    groups = [
        LineGroup(
            card=card,
            user_kind=user,
            lines=[row for row in rows if row.card is card and row.user_kind == user],
        )
        for card in cards
        for user in ("本人", "家族")
    ]
    return StatementView(
        statement=statement,
        month=BillingMonth(2025, 4),
        groups=[group for group in groups if group.lines],
        fee_lines=[FeeLine(amount=165, line_no=lines + 1)],
        balance=StatementBalance(installment_balance=48000, revolving_balance=12345)
        if extras
        else None,
        points=PointBalance(
            balance=3210,
            as_of=dt.date(2025, 3, 31),
            expiring_points=500,
            expires_on=dt.date(2025, 9, 30),
        )
        if extras
        else None,
    )


def _digest(pdf: bytes) -> str:
    return hashlib.sha256(pdf).hexdigest()


@pytest.mark.parametrize(
    ("lines", "extras", "expected"),
    [
        (30, True, "63d53d3679f62c0d9dc32ca96ac11ced164ecab9d9c2ea0e7e7c860eabbdc696"),
        (30, False, "374c6ce1689b0375e20210f5bc38b5b64d3cecc27b3bf0b8f68984a8ea1a6532"),
        (120, True, "3316798d01fccd80bf370909cee5f7ab62c0dec7b9f6f17519d8d4ff38bb8f01"),
    ],
)
def test_the_full_layout_renders_the_bytes_already_issued(lines, extras, expected):
    assert _digest(statement_pdf(view=_view(lines=lines, extras=extras), issuer=ISSUER)) == expected


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (30, "1fab9219235fc8549fccf86baeb13016f005dd9f8a33e266feacdd7d84cec08b"),
        (120, "74693630930a9c42259663c8f3b68b967f7a40b9e35787e6a15ed477cc61b642"),
    ],
)
def test_the_first_layout_renders_the_bytes_already_issued(lines, expected):
    assert (
        _digest(_first_layout_pdf(view=_view(lines=lines, extras=True), issuer=ISSUER)) == expected
    )
