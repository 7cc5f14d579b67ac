"""The member pages in a real browser, at phone width and at desktop width: log in (password, then
the emailed code), open the latest statement, download its PDF and CSV, stop paper through
お客様情報 → 紙明細停止選択 → 変更 → 確定, and see the change on the pages."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.db import transaction

from meisai import billing_calendar
from meisai.clock import JST, now
from meisai.members.models import DeliveryPreference
from tests.factories import AccountFactory, CardFactory, StatementFactory, statement_usage_line

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery"


def _fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@transaction.atomic  # the live server sees the statement and its usage lines together
def _statement_of_latest_month(member, card):
    month = billing_calendar.latest_billing_month()
    statement = StatementFactory(
        member=member,
        billing_month=str(month),
        usage_total=12345,
        line_count=2,
        debit_date=billing_calendar.debit_date(month),
        confirmed_at=dt.datetime.combine(month.day(10), dt.time(3), tzinfo=JST),
        published_at=dt.datetime.combine(month.day(13), dt.time(9), tzinfo=JST),
    )
    statement_usage_line(statement, line_no=1, card=card, merchant="盛岡百貨店", use_amount=12000)
    statement_usage_line(
        statement,
        line_no=2,
        card=card,
        merchant="=髙橋商店㈱",
        user_kind="家族",
        use_amount=345,
    )
    return month


def test_statement_downloads_and_stopping_paper(site, smtp_sink, page, tmp_path):
    account = AccountFactory(
        login_id="hanako.browser", email="hanako.browser@example.jp", personal_message="石割桜"
    )
    card = CardFactory(member=account.member, number="4980000000001234")
    month = _statement_of_latest_month(account.member, card)

    # Log in from a browser new to the account: password, then the emailed code.
    page.goto(f"{site.url}/")
    page.wait_for_url(f"{site.url}/login/?next=/")
    page.get_by_label("ログインID").fill("hanako.browser")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.get_by_role("heading", name="確認コードの入力").wait_for()
    page.get_by_label("確認コード(6桁)").fill(smtp_sink.wait_for(account.email).code)
    page.get_by_role("button", name="確認").click()
    page.wait_for_url(f"{site.url}/")

    # The top page: personal message, the latest statement, and paper still on.
    assert "石割桜" in page.content()
    assert "12,345円" in page.content()
    page.get_by_role("heading", name="最新のご請求").wait_for()
    assert _fits_the_screen(page)

    # The latest statement.
    page.get_by_role("link", name=f"{month.label}の明細を見る").click()
    page.get_by_role("heading", name=f"{month.label}のご請求明細").wait_for()
    # One section per card; its users are row groups (本人ご利用分, 家族ご利用分) inside it.
    page.get_by_role("heading", name="カード ****-****-****-1234", exact=True).wait_for()
    assert "盛岡百貨店" in page.content() and "12,345円" in page.content()
    assert _fits_the_screen(page)

    # PDF and CSV downloads.
    # 「PDFで見る」 opens the viewer (a headless browser has none); the download link saves it.
    assert page.get_by_role("link", name="PDFで見る").get_attribute("href").endswith(".pdf")
    with page.expect_download() as pdf_download:
        page.get_by_role("link", name="PDFをダウンロード").click()
    pdf = Path(pdf_download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert pdf_download.value.suggested_filename == f"ご利用代金明細書_{month.label}.pdf"

    with page.expect_download() as csv_download:
        page.get_by_role("link", name="CSVでダウンロード").click()
    text = Path(csv_download.value.path()).read_bytes().decode("cp932")
    assert csv_download.value.suggested_filename == f"ご利用明細_{month.label}.csv"
    assert text.splitlines()[0].startswith(
        "利用日,利用店名,請求金額,支払区分,支払回数,利用者,カード番号"
    )
    assert "盛岡百貨店" in text and "'=髙橋商店㈱" in text

    # お客様情報 → 紙明細停止選択 → 「紙明細を停止する」 → 変更 → 確定.
    page.goto(f"{site.url}/account/")
    page.get_by_role("link", name="紙明細停止選択").click()
    page.get_by_role("heading", name="紙明細停止選択").wait_for()
    assert _fits_the_screen(page)
    page.get_by_label("紙明細を停止する").check()
    page.get_by_role("button", name="変更").click()
    page.get_by_role("heading", name="変更内容の確認").wait_for()
    first = billing_calendar.first_month_affected(now())
    assert f"<strong>{first.label}</strong>からWEB明細になり" in page.content()
    page.get_by_role("button", name="確定").click()
    page.get_by_text(f"紙明細の停止を承りました。{first.label}からWEB明細になります。").wait_for()
    assert page.locator("p.big").inner_text() == "WEB明細"
    assert DeliveryPreference.objects.get(member=account.member).method == "web"

    # The top page no longer offers to stop paper.
    page.goto(f"{site.url}/")
    assert "紙明細を停止する" not in page.content()
