"""The statement PDF: text, embedded font subset, fallback glyphs, same bytes, SHA-256 check."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging

import pytest
import time_machine
from pypdf import PdfReader

from meisai.clock import JST
from meisai.statements.models import Statement
from tests.factories import AccountFactory, CardFactory, StatementFactory, statement_usage_line

pytestmark = pytest.mark.django_db

APRIL_20 = dt.datetime(2025, 4, 20, 12, 0, tzinfo=JST)


@pytest.fixture
def account():
    return AccountFactory(member__name_kanji="盛岡 花子")


@pytest.fixture
def statement(account):
    card = CardFactory(member=account.member, number="4980000000001234")
    statement = StatementFactory(
        member=account.member,
        billing_month="2025-04",
        usage_total=12180,
        fee_total=165,
        line_count=3,
        points_granted=1000,
        debit_date=dt.date(2025, 4, 28),
    )
    statement_usage_line(statement, line_no=1, card=card, merchant="盛岡百貨店", use_amount=12000)
    statement_usage_line(
        statement, line_no=2, card=card, merchant="髙橋商店㈱", user_kind="家族", use_amount=180
    )
    # line 3 is the paper fee: fee_total=165, printed by the selectors as the last line
    return statement


def _fonts(pdf: bytes) -> dict[str, bool]:
    """Base font name → whether its glyphs are embedded as a TrueType program (/FontFile2)."""
    reader = PdfReader(io.BytesIO(pdf))
    fonts = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = font.get("/FontDescriptor")
            if descriptor is None and "/DescendantFonts" in font:
                descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            descriptor = descriptor.get_object() if descriptor is not None else {}
            fonts[str(font["/BaseFont"])] = "/FontFile2" in descriptor
    return fonts


def _text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@time_machine.travel(APRIL_20, tick=False)
def test_pdf_has_the_statement_text_and_embeds_the_font_subset(member_client, statement):
    response = member_client.get("/statements/2025-04.pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    # 「PDFで見る」 opens it in the browser (SPEC 4.4); its name is kept for a save.
    assert response["Content-Disposition"] == (
        "inline; filename=\"meisai-2025-04.pdf\"; filename*=UTF-8''"
        "%E3%81%94%E5%88%A9%E7%94%A8%E4%BB%A3%E9%87%91%E6%98%8E%E7%B4%B0%E6%9B%B8_"
        "2025%E5%B9%B44%E6%9C%88%E8%AB%8B%E6%B1%82%E5%88%86.pdf"
    )
    pdf = response.content
    text = _text(pdf)
    for expected in (
        "日専連パートナーズ",
        "盛岡 花子 様",
        "****-****-****-1234",
        "盛岡百貨店",
        "髙橋商店㈱",
        "紙明細発行手数料",
        "12,345円",
        "2025年4月28日(月)",
        "1,000ポイント",
        "2025年4月請求分",
    ):
        assert expected in text, expected
    assert "4980000000001234" not in text
    fonts = _fonts(pdf)
    assert len(fonts) == 1
    ((name, embedded),) = fonts.items()
    assert name.endswith("+IPAexGothic") or "IPAexGothic" in name
    assert embedded is True
    assert PdfReader(io.BytesIO(pdf)).pages[0].mediabox.width == pytest.approx(595.27, abs=0.1)


@time_machine.travel(APRIL_20, tick=False)
def test_same_statement_gives_the_same_bytes_and_its_sha256_is_recorded(member_client, statement):
    first = member_client.get("/statements/2025-04.pdf").content
    second = member_client.get("/statements/2025-04.pdf").content

    assert first == second
    statement.refresh_from_db()
    assert statement.pdf_sha256 == hashlib.sha256(first).hexdigest()


@time_machine.travel(APRIL_20, tick=False)
def test_a_rendering_that_differs_from_the_first_is_refused_and_logged(
    member_client, statement, caplog
):
    Statement.objects.filter(pk=statement.pk).update(pdf_sha256="0" * 64)

    with caplog.at_level(logging.ERROR, logger="meisai.statements.pdf"):
        response = member_client.get("/statements/2025-04.pdf")

    assert response.status_code == 500
    assert "PDFをご用意できませんでした" in response.content.decode()
    assert any("differs from the one first served" in r.getMessage() for r in caplog.records)
    statement.refresh_from_db()
    assert statement.pdf_sha256 == "0" * 64


@time_machine.travel(APRIL_20, tick=False)
def test_a_character_ipaex_lacks_prints_through_the_fallback_font(
    member_client, account, statement
):
    account.member.name_kanji = "𠮷田 一郎"
    account.member.save()

    pdf = member_client.get("/statements/2025-04.pdf").content

    fonts = _fonts(pdf)
    assert any(name.endswith("+HanaMinA") for name in fonts)
    assert all(fonts.values())
    assert "𠮷" in _text(pdf)


@time_machine.travel(APRIL_20, tick=False)
def test_a_character_no_font_has_is_replaced_visibly_and_logged(member_client, statement, caplog):
    march = StatementFactory(
        member=statement.member, billing_month="2025-03", usage_total=500, line_count=1
    )
    statement_usage_line(march, line_no=1, merchant="カフェ\U0001f996", use_amount=500)

    with caplog.at_level(logging.WARNING, logger="meisai.statements.pdf"):
        pdf = member_client.get("/statements/2025-03.pdf").content

    assert "カフェ〓" in _text(pdf)
    assert "PDF: no font has U+1F996; drawn as 〓" in [r.getMessage() for r in caplog.records]


@time_machine.travel(APRIL_20, tick=False)
def test_a_long_statement_continues_on_more_pages(member_client, account):
    card = CardFactory(member=account.member)
    statement = StatementFactory(
        member=account.member, billing_month="2025-04", usage_total=120 * 100, line_count=120
    )
    for number in range(1, 121):
        statement_usage_line(
            statement,
            line_no=number,
            card=card,
            merchant=f"店舗{number:03d}",
            use_amount=100,
        )

    pdf = member_client.get("/statements/2025-04.pdf").content

    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 3
    text = _text(pdf)
    assert "店舗001" in text and "店舗120" in text and "12,000円" in text
    assert "(続き)" in reader.pages[1].extract_text()


@time_machine.travel(APRIL_20, tick=False)
def test_the_pdf_opens_in_the_browser_viewer_and_downloads_on_request(member_client, statement):
    shown = member_client.get("/statements/2025-04.pdf")
    saved = member_client.get("/statements/2025-04.pdf?download=1")

    assert shown["Content-Disposition"].startswith("inline; ")
    assert saved["Content-Disposition"].startswith("attachment; ")
    assert shown.content == saved.content
    # The viewer is a plugin: this response (a PDF, never HTML) lets itself be embedded; every
    # other directive of the policy stays.
    policy = dict(
        part.strip().split(" ", 1) for part in shown["Content-Security-Policy"].split(";")
    )
    assert policy["object-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["default-src"] == "'self'"
    assert shown["Cache-Control"].find("no-store") >= 0
