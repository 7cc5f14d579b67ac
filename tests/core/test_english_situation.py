"""With English chosen, what the pages tell of the member's situation reads English too (issue 15,
docs/i18n.md): the campaign on the top page, the month from which statements come, a cancelled
member's page, the paper page, the points history, the statement body, the delivery email, the
PDF and the download file names. The Japanese of each stays as it was (their own tests)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.utils import translation
from pypdf import PdfReader

from meisai.clock import JST
from meisai.notifications.models import OutboxMessage
from meisai.points.models import PointEntry
from meisai.points.services import campaign_load_defaults
from meisai.statements.pdf import statement_pdf
from meisai.statements.selectors import statement_view
from tests.core.test_i18n import choose
from tests.core.test_translations_complete import JAPANESE
from tests.factories import AccountFactory, CardFactory, ProductFactory
from tests.statements.test_pages import published

pytestmark = pytest.mark.django_db

IN_WINDOW = dt.datetime(2025, 1, 20, 12, 0, tzinfo=JST)
APRIL_20 = dt.datetime(2025, 4, 20, 12, 0, tzinfo=JST)


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()


@pytest.fixture
def campaign(db):
    ProductFactory(code="IRIS", name="IRISカード", program_excluded=True)
    return campaign_load_defaults(actor="test")


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def japanese_left(page: str, *data: str) -> list[str]:
    """The Japanese a page still holds once the issuer's name, the footer's 日本語 (named in
    itself) and the member's data (names, merchants, products) are taken out."""
    rest = page.replace(settings.MEISAI_ISSUER_NAME, "").replace(">日本語<", "")
    for value in sorted(data, key=len, reverse=True):
        rest = rest.replace(value, "")
    return [line.strip() for line in rest.splitlines() if JAPANESE.search(line)]


def member_data(account) -> tuple[str, str]:
    """What a page prints of the member as stored: their name and personal message."""
    return account.member.name_kanji, account.personal_message


def english_page(browser: Client, account, path: str) -> str:
    browser.force_login(account)
    choose(browser, "en", on=path)
    return browser.get(path).content.decode()


@time_machine.travel(IN_WINDOW, tick=False)
def test_a_paper_member_reads_the_campaign_on_the_top_and_paper_pages_in_english(browser, campaign):
    account = AccountFactory()

    top = english_page(browser, account, "/")
    paper = browser.get("/account/paper/").content.decode()

    for page in (top, paper):
        assert '<html lang="en"' in page
        assert ">Web Statements early registration campaign</h2>" in page
        assert "Period: Wed, 13 Nov 2024 – Fri, 28 Feb 2025" in page
        assert "receives 1,000 points of Nissenren Card Sale Points." in page
        assert "The points will be granted with the April 2025 statement (planned)." in page
        assert "IRISカード are not eligible." in page  # the product's name is data
        assert japanese_left(page, *member_data(account), "IRISカード") == []
    assert "<h1>Paper statement settings</h1>" in paper


@time_machine.travel(IN_WINDOW, tick=False)
def test_the_delivery_month_and_the_promised_points_read_in_english(browser, campaign):
    """Stopped paper on 2025-01-20 → the top page says from which statement they come online,
    the campaign's points with the April statement, and the email is English."""
    account = AccountFactory()
    english_page(browser, account, "/account/paper/")
    token = browser.cookies["csrftoken"].value

    confirm = browser.post(
        "/account/paper/",
        {"step": "confirm", "method": "web", "csrfmiddlewaretoken": token},
    ).content.decode()
    done = browser.post(
        "/account/paper/",
        {"step": "commit", "method": "web", "csrfmiddlewaretoken": token},
        follow=True,
    ).content.decode()
    top = browser.get("/").content.decode()

    assert (
        "From the <strong>February 2025 statement</strong>, your statements are online" in confirm
    )
    assert "Paper statements are stopped. Your statements are online from the February 2025" in done
    assert (
        "From the February 2025 statement, your statements are delivered online (this service). "
        "No paper statement will be mailed."
    ) in top
    assert "You qualify for the Web Statements early registration campaign" in top
    assert "1,000 points will be granted with the April 2025 statement (planned)." in top
    for page in (confirm, done, top):
        assert japanese_left(page, *member_data(account)) == []
    [mail] = OutboxMessage.objects.filter(template="delivery_preference_changed")
    assert mail.subject.endswith("Web Statements: your delivery method has changed")
    assert "On 20 Jan 2025 12:00, we received your change" in mail.body_text
    assert "February 2025 statement" in mail.body_text and "請求分" not in mail.body_text
    assert '<html lang="en">' in mail.body_html


@time_machine.travel(APRIL_20, tick=False)
def test_a_cancelled_member_reads_their_page_in_english(browser):
    account = AccountFactory(member__status="cancelled", member__cancelled_on=dt.date(2025, 3, 31))
    CardFactory(member=account.member, is_active=False)

    top = english_page(browser, account, "/")

    assert '<h2 id="cancelled-heading">Your card has been cancelled</h2>' in top
    assert "within the display period (up to 13 months)." in top
    assert "There are no statements to view within the display period." in top
    assert japanese_left(top, *member_data(account)) == []


@time_machine.travel(APRIL_20, tick=False)
def test_the_points_history_is_english(browser, campaign):
    account = AccountFactory()
    PointEntry.objects.create(
        member=account.member,
        kind=PointEntry.Kind.CAMPAIGN,
        points=1000,
        billing_month="2025-04",
        campaign=campaign,
        description=campaign.name,
        recorded_at=dt.datetime(2025, 4, 14, 3, 0, tzinfo=JST),
    )

    page = english_page(browser, account, "/points/")

    assert (
        "Points granted: Web Statements early registration campaign (April 2025 statement)"
    ) in page
    assert "+1,000 points" in page
    assert japanese_left(page, *member_data(account)) == []


@time_machine.travel(APRIL_20, tick=False)
def test_the_statement_page_is_english(browser):
    account = AccountFactory()
    card = CardFactory(member=account.member)
    published(
        account.member, "2025-04", [{"card": card, "merchant": "盛岡百貨店", "use_amount": 4200}]
    )

    page = english_page(browser, account, "/statements/2025-04/")

    assert "<title>April 2025 statement" in page
    assert "<h1>April 2025 statement</h1>" in page
    assert f"Card {card.masked} (used by: Cardholder)" in page
    assert '<th scope="col">Merchant</th>' in page
    assert 'data-label="Payment type">Single payment</td>' in page
    assert '<th scope="row" colspan="5">Subtotal</th><td class="amount">¥4,200</td>' in page
    assert ">View PDF</a>" in page and ">Download CSV</a>" in page
    assert japanese_left(page, *member_data(account), "盛岡百貨店") == []


@time_machine.travel(APRIL_20, tick=False)
def test_the_list_pages_chart_is_english(browser):
    account = AccountFactory()
    published(account.member, "2025-04", [{"use_amount": 12345}])

    page = english_page(browser, account, "/statements/")

    assert "Chart of the amount billed by month</title>" in page
    assert "April 2025 ¥12,345" in page
    assert ">Apr</text>" in page and ">12k</text>" in page
    assert "March 2025 no statement" in page
    assert japanese_left(page, *member_data(account)) == []


# --- the PDF and the file names -------------------------------------------------------------------


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@time_machine.travel(APRIL_20, tick=False)
def test_the_english_pdf_has_english_labels_and_the_same_bytes_each_time():
    account = AccountFactory()
    card = CardFactory(member=account.member)
    statement = published(
        account.member,
        "2025-04",
        [{"card": card, "merchant": "盛岡百貨店", "use_amount": 4200, "payment_type": "リボ"}],
        points=42,
    )
    view = statement_view(statement=statement)

    english = statement_pdf(view=view, issuer="盛岡カード", language="en")
    again = statement_pdf(
        view=statement_view(statement=statement), issuer="盛岡カード", language="en"
    )
    japanese = statement_pdf(view=view, issuer="盛岡カード")
    with translation.override("en"):  # the active language does not make a Japanese PDF English
        still_japanese = statement_pdf(view=view, issuer="盛岡カード")

    assert english == again
    assert japanese == still_japanese != english
    text = _text(english)
    for label in (
        "Statement of card use, April 2025 statement",
        "Web Statements",
        "Amount billed",
        "Debit date Mon, 28 Apr 2025",
        "Date",
        "Merchant",
        "Payment type",
        "Revolving",
        "Subtotal",
        "Total amount billed",
        "Points granted",
        "42 points",
        "¥4,200",
        f"Member no. {account.member.member_no}",
    ):
        assert label in text, label
    assert "盛岡百貨店" in text  # the merchant as the core system sent it
    assert "今回ご請求額" in _text(japanese) and "4,200円" in _text(japanese)
    assert hashlib.sha256(japanese).hexdigest() != hashlib.sha256(english).hexdigest()


@time_machine.travel(APRIL_20, tick=False)
def test_the_english_pdf_is_not_recorded_and_the_japanese_one_is(browser):
    account = AccountFactory()
    statement = published(account.member, "2025-04", [{"use_amount": 4200}])
    english_page(browser, account, "/statements/2025-04/")

    english = browser.get("/statements/2025-04.pdf?download=1")
    statement.refresh_from_db()
    recorded_after_english = statement.pdf_sha256
    choose(browser, "ja", on="/statements/")
    japanese = browser.get("/statements/2025-04.pdf?download=1")
    statement.refresh_from_db()

    assert english.status_code == japanese.status_code == 200
    assert recorded_after_english == ""
    assert statement.pdf_sha256 == hashlib.sha256(japanese.content).hexdigest()
    assert english["Content-Disposition"] == (
        "attachment; filename=\"meisai-2025-04.pdf\"; filename*=UTF-8''Statement_2025-04.pdf"
    )
    assert (
        "filename*=UTF-8''%E3%81%94%E5%88%A9%E7%94%A8%E4%BB%A3%E9%87%91"
        in (japanese["Content-Disposition"])
    )


@time_machine.travel(APRIL_20, tick=False)
def test_the_csv_file_names_are_english(browser):
    account = AccountFactory()
    published(account.member, "2025-04", [{"use_amount": 4200}])
    english_page(browser, account, "/statements/")

    one = browser.get("/statements/2025-04.csv")
    every = browser.get("/statements/all.csv")

    assert one["Content-Disposition"].endswith("filename*=UTF-8''Card_use_2025-04.csv")
    assert every["Content-Disposition"].endswith("filename*=UTF-8''Card_use_all_statements.csv")
