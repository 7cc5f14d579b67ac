"""With English chosen, the member pages, the CSV and the emails read English, amounts and dates
in English form; with Japanese, every one reads as it always did (docs/i18n.md)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.utils import translation

from meisai.billing_calendar import BillingMonth
from meisai.clock import JST
from meisai.notifications.models import OutboxMessage
from meisai.notifications.services import render_email
from meisai.statements import formatting
from tests.core.test_calendar_configuration import EMAIL_CONTEXT, EMAIL_TEMPLATES
from tests.core.test_i18n import choose
from tests.core.test_translations_complete import JAPANESE
from tests.factories import AccountFactory, CardFactory, StatementFactory, statement_usage_line

pytestmark = pytest.mark.django_db

APRIL_20 = dt.datetime(2025, 4, 20, 12, 0, tzinfo=JST)
MONDAY = dt.date(2025, 4, 28)


# --- amounts, dates and months -------------------------------------------------------------------


def test_amounts_dates_and_months_read_in_the_chosen_language():
    moment = dt.datetime(2025, 4, 28, 5, 5, tzinfo=dt.UTC)  # 14:05 in Japan

    def formatted(language: str) -> tuple[str, ...]:
        with translation.override(language):
            return (
                formatting.money(12345),
                formatting.money(-1200),
                formatting.long_date(MONDAY),
                formatting.statement_month(BillingMonth(2025, 4)),
                formatting.point_amount(1500),
                formatting.date_time(moment),
                formatting.payment_name("リボ"),
                formatting.issue_label("2025-04"),
            )

    japanese, english = formatted("ja"), formatted("en")

    assert japanese == (
        "12,345円",
        "-1,200円",
        "2025年4月28日(月)",
        "2025年4月請求分",
        "1,500ポイント",
        "2025年4月28日 14:05",
        "リボ払い",
        "2025年4月号",
    )
    assert english == (
        "¥12,345",
        "-¥1,200",
        "Mon, 28 Apr 2025",
        "April 2025 statement",
        "1,500 points",
        "28 Apr 2025 14:05",
        "Revolving payment",
        "April 2025 issue",
    )


def test_the_pdf_forms_stay_japanese_whatever_the_language():
    """The statement PDF prints these, and its recorded SHA-256 must not depend on who asks."""
    with translation.override("en"):
        assert formatting.yen(12345) == "12,345円"
        assert formatting.jp_date(MONDAY) == "2025年4月28日(月)"
        assert formatting.month_label("2025-04") == "2025年4月請求分"
        assert formatting.payment_label("1回") == "1回払い"


def test_a_code_meisai_does_not_know_is_shown_as_sent():
    with translation.override("en"):
        assert formatting.payment_name("9回") == "9回"


# --- pages ---------------------------------------------------------------------------------------


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def test_the_recovery_pages_are_english(browser):
    choose(browser, "en", on="/login/forgot-password/")

    password = browser.get("/login/forgot-password/").content.decode()
    login_id = browser.get("/login/forgot-id/").content.decode()

    assert "<h1>Forgot your password?</h1>" in password
    assert '<label for="id_card_number">Card number</label>' in password
    assert "Enter your card number and date of birth." in password
    assert '<button type="submit">Send</button>' in password
    assert '<label for="id_email">Your registered email address</label>' in login_id
    # Only the issuer's name and the switch's 日本語 (each language named in itself) stay.
    rest = password.replace(settings.MEISAI_ISSUER_NAME, "").replace(">日本語<", "")
    assert JAPANESE.search(rest) is None


def test_the_my_account_page_is_english(browser):
    account = AccountFactory(personal_message="さくら")
    browser.force_login(account)
    choose(browser, "en", on="/account/")

    page = browser.get("/account/").content.decode()

    assert "<h1>My account</h1>" in page
    assert "<dt>Personal message</dt><dd>さくら" in page
    assert "(not shown)" in page
    assert "<h2>Paper statement settings</h2>" in page


@time_machine.travel(APRIL_20, tick=False)
def test_the_statement_list_is_english_with_english_amounts_and_dates(browser):
    account = AccountFactory()
    StatementFactory(member=account.member, billing_month="2025-04", usage_total=12345)
    browser.force_login(account)

    japanese = browser.get("/statements/").content.decode()
    choose(browser, "en", on="/statements/")
    english = browser.get("/statements/").content.decode()

    assert "2025年4月請求分" in japanese and "12,345円" in japanese
    assert "2025年4月28日(月)" in japanese and "WEB明細" in japanese
    assert "<h1>All statements</h1>" in english
    assert ">April 2025 statement</a>" in english
    assert '<td class="amount" data-label="Amount billed">¥12,345</td>' in english
    assert '<td data-label="Debit date">Mon, 28 Apr 2025</td>' in english
    assert '<td data-label="Delivery">Web</td>' in english
    assert "<caption>Statements (1 month)</caption>" in english


# --- the CSV -------------------------------------------------------------------------------------

JAPANESE_HEADER = [
    "利用日",
    "利用店名",
    "請求金額",
    "支払区分",
    "支払回数",
    "利用者",
    "カード番号",
    "利用金額",
    "請求月",
    "備考",
]


def _csv(response) -> list[list[str]]:
    data = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(data, newline="")))


@time_machine.travel(APRIL_20, tick=False)
def test_the_csv_header_and_meisais_own_texts_follow_the_language(browser):
    account = AccountFactory()
    card = CardFactory(member=account.member, number="4980000000001234")
    statement = StatementFactory(
        member=account.member, billing_month="2025-04", usage_total=1200, line_count=1
    )
    statement_usage_line(
        statement, line_no=1, card=card, merchant="盛岡百貨店", use_amount=1200,
        use_date=dt.date(2025, 3, 1), installment="3/10",
    )  # fmt: skip
    browser.force_login(account)

    japanese = _csv(browser.get("/statements/2025-04.csv?encoding=utf-8"))
    choose(browser, "en", on="/statements/")
    english = _csv(browser.get("/statements/2025-04.csv?encoding=utf-8"))

    assert japanese[0] == JAPANESE_HEADER
    assert japanese[1][3:6] == ["1回払い", "10回中3回目", "本人"]
    assert japanese[1][8] == "2025年4月請求分"
    assert english[0] == [
        "Date of use",
        "Merchant",
        "Amount billed",
        "Payment type",
        "Instalment",
        "User",
        "Card number",
        "Amount used",
        "Billing month",
        "Note",
    ]
    assert english[1] == [
        "2025-03-01",
        "盛岡百貨店",  # the core system's text, as sent
        "1200",
        "Single payment",
        "3 of 10",
        "Cardholder",
        "****-****-****-1234",
        "1200",
        "April 2025 statement",
        "",
    ]


# --- emails --------------------------------------------------------------------------------------

#: Staff-only (tests/core/test_translations_complete.py).
NOT_MEMBER_EMAILS = {"operators_month_not_closed"}
MEMBER_EMAILS = [kind for kind in EMAIL_TEMPLATES if kind not in NOT_MEMBER_EMAILS]


@pytest.mark.parametrize("template", MEMBER_EMAILS)
def test_every_member_email_reads_english_when_queued_in_english(template):
    with translation.override("en"):
        subject, text, html = render_email(template, EMAIL_CONTEXT)

    # What the context brings (names, the Japanese month label of a published month) is data.
    data = [settings.MEISAI_ISSUER_NAME] + [v for v in EMAIL_CONTEXT.values() if isinstance(v, str)]
    for body in (subject, text, html):
        for value in sorted(data, key=len, reverse=True):
            body = body.replace(value, "")
        assert JAPANESE.search(body) is None, body
    assert "Web Statements" in text
    assert '<html lang="en">' in html or not html.startswith("<!doctype")


def test_an_email_a_member_asks_for_in_english_is_queued_in_english(browser):
    account = AccountFactory(member__email="hanako@example.jp", email="hanako@example.jp")
    choose(browser, "en", on="/login/forgot-id/")
    page = browser.get("/login/forgot-id/").content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]

    response = browser.post(
        "/login/forgot-id/", {"email": "hanako@example.jp", "csrfmiddlewaretoken": token}
    )

    assert response.status_code == 200
    message = OutboxMessage.objects.get(to="hanako@example.jp")
    assert message.subject == f"[{settings.MEISAI_ISSUER_NAME}] Web Statements: your login ID"
    assert f"Login ID: {account.login_id}" in message.stored_text


def test_the_same_email_asked_for_in_japanese_reads_as_before(browser):
    AccountFactory(member__email="taro@example.jp", email="taro@example.jp")
    page = browser.get("/login/forgot-id/").content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]

    browser.post("/login/forgot-id/", {"email": "taro@example.jp", "csrfmiddlewaretoken": token})

    message = OutboxMessage.objects.get(to="taro@example.jp")
    assert message.subject == f"【{settings.MEISAI_ISSUER_NAME}】WEBサービス ログインIDのお知らせ"


# --- the cached statement body -------------------------------------------------------------------


@time_machine.travel(APRIL_20, tick=False)
def test_a_statement_seen_in_english_is_not_served_to_the_japanese_page_from_the_cache(browser):
    account = AccountFactory()
    StatementFactory(member=account.member, billing_month="2025-04", usage_total=12345)
    browser.force_login(account)
    choose(browser, "en", on="/statements/")
    browser.get("/statements/2025-04/")
    choose(browser, "ja", on="/statements/")

    page = browser.get("/statements/2025-04/").content.decode()

    assert "12,345円" in page
    assert "¥12,345" not in page
