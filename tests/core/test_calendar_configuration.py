"""The business calendar and the paper fee are configuration (SPEC 3.1, 3.3).

Under an issuer's own calendar — cutoff on the 15th, confirmation on the 20th, debit on the 27th,
12 months of history from billing month 2025-01, a fee of 100 yen + 10 % from 2025-05 — every
member page, the 404 page and every email print the configured values and none of the flyer's
(9日, 10日以降, 13か月, 2024年11月, 165円). A bad environment value stops the start with one
line that names the variable.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.cache import cache

from meisai import billing_calendar as cal
from meisai.billing_calendar import BillingMonth
from meisai.clock import JST
from meisai.magazines.models import MagazineSettings
from meisai.notifications.models import OutboxMessage
from meisai.notifications.services import render_email
from tests.accounts.conftest import PASSWORD, identity, link_in, log_in, outbox
from tests.factories import (
    AccountFactory,
    CardFactory,
    DeliveryPreferenceFactory,
    MagazineIssueFactory,
    MemberFactory,
    PhoneFactory,
    PointBalanceFactory,
    StatementFactory,
    statement_usage_line,
)

#: An issuer's calendar that shares no number with the flyer's.
ISSUER_CALENDAR = {
    "service_start": "2025-01",
    "history_months": 12,
    "registration_cutoff_day": 15,
    "confirmation_day": 20,
    "debit_day": 27,
    "paper_fee_start": "2025-05",
    "paper_fee_net": 100,
    "paper_fee_tax_percent": 10,
}

#: The flyer's values as a page would print them. The look-behinds keep 19日, 2,165円 and the
#: like (dates and amounts of the data) from counting as the fixed texts.
FLYER_TEXTS = {
    "the 9th cutoff": r"(?<![0-9])9日",
    "the day after the 9th": r"(?<![0-9])10日以降",
    "13 months": r"(?<![0-9])13[かヵヶカ]月",
    "service start 2024-11": r"2024年11月",
    "the 165-yen fee": r"(?<![0-9,])165円",
    "English: the 9th": r"\b9th\b",
    "English: 13 months": r"\b13[ -]months?\b",
}

#: 2025-05-12 (Mon) 10:00 JST: after the flyer's 9th but before the issuer's 15th cutoff; April
#: (confirmed 2025-04-21, the 20th being a Sunday) is the latest month, May comes next.
BEFORE_CUTOFF = dt.datetime(2025, 5, 12, 10, 0, tzinfo=JST)
#: 2025-05-17 (Sat) 10:00 JST: May's delivery was fixed at the end of the 15th.
AFTER_CUTOFF = dt.datetime(2025, 5, 17, 10, 0, tzinfo=JST)

CARD_NUMBER = "4980123456781234"
BIRTH_DATE = dt.date(1958, 7, 21)
MOBILE_PHONE = "09087654321"


def flyer_texts_in(text: str) -> list[str]:
    return [name for name, pattern in FLYER_TEXTS.items() if re.search(pattern, text)]


@pytest.fixture
def issuer_calendar(settings):
    settings.MEISAI_CALENDAR = dict(ISSUER_CALENDAR)
    # Rendered statements are cached per process under the member's id, which tests reuse.
    cache.clear()
    yield
    cache.clear()


def _published(member, month: str, *, card=None, fee: int = 0, amount: int = 4000):
    billing = BillingMonth.parse(month)
    statement = StatementFactory(
        member=member,
        billing_month=month,
        usage_total=amount,
        fee_total=fee,
        line_count=1 + (1 if fee else 0),
        delivery="paper" if fee else "web",
        debit_date=cal.debit_date(billing),
        confirmed_at=dt.datetime.combine(cal.confirmation_date(billing), dt.time(3), tzinfo=JST),
        published_at=dt.datetime.combine(cal.confirmation_date(billing), dt.time(9), tzinfo=JST),
    )
    statement_usage_line(
        statement, line_no=1, card=card, use_amount=amount, use_date=billing.previous().day(2)
    )
    return statement


def _pages(client, *paths: str) -> dict[str, str]:
    pages = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        pages[path] = response.content.decode()
    return pages


# --- the member pages ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("issuer_calendar")
@time_machine.travel(BEFORE_CUTOFF, tick=False)
def test_member_pages_print_the_issuers_calendar(client):
    """A paper member on 2025-05-12: May is still open until the end of the 15th."""
    account = AccountFactory(member__name_kanji="盛岡 花子")
    card = CardFactory(member=account.member)
    # 2024-12 is before the issuer's service start: never shown, although published.
    _published(account.member, "2024-12", card=card, amount=1212)
    _published(account.member, "2025-03", card=card)
    _published(account.member, "2025-04", card=card, fee=cal.paper_fee_total())
    PointBalanceFactory(member=account.member)
    MagazineSettings.objects.create(pk=1, enabled=True)
    MagazineIssueFactory()
    client.force_login(account)

    pages = _pages(
        client,
        "/",
        "/statements/",
        "/statements/2025-04/",
        "/points/",
        "/magazines/",
        "/account/",
        "/account/email/",
        "/account/password/",
        "/account/message/",
        "/account/paper/",
    )
    stop = client.post("/account/paper/", {"step": "confirm", "method": "web"})
    assert stop.status_code == 200
    pages["confirm: stop paper"] = stop.content.decode()
    not_found = client.get("/statements/2024-12/")
    assert not_found.status_code == 404
    pages["404"] = not_found.content.decode()

    for name, page in pages.items():
        assert flyer_texts_in(page) == [], name
    top = pages["/"]
    assert "2025年5月請求分は紙の明細書でお届けします" in top
    assert "2025年5月15日(木)までに「紙明細を停止する」" in top
    assert "発行手数料110円(税込)" in top
    assert "ご請求明細の一覧(最大12か月分)" in top
    assert (
        "最大12か月分のご請求明細(2025年1月請求分以降)をご覧いただけます。" in pages["/statements/"]
    )
    assert "1,212円" not in pages["/statements/"]
    fee_rows = re.findall(
        r'<tr class="fee"><td data-label="内容">(.*?)</td><td[^>]*>(.*?)</td>',
        pages["/statements/2025-04/"],
    )
    assert fee_rows == [("紙明細発行手数料(税込)", "110円")]
    help_text = "毎月15日の時点のご登録でその月の請求分が決まります。16日以降のお手続きは翌月"
    assert help_text in pages["/account/paper/"]
    assert "<strong>2025年5月請求分</strong>から反映されます" in pages["/account/paper/"]
    confirm_help = "毎月15日までのお手続きはその月の請求分から、16日以降のお手続きは翌月"
    assert confirm_help in pages["confirm: stop paper"]
    assert "ご請求明細は、最大12か月分(2025年1月請求分以降)をご覧いただけます。" in pages["404"]


@pytest.mark.django_db
@pytest.mark.usefixtures("issuer_calendar")
@time_machine.travel(dt.datetime(2025, 4, 12, 10, 0, tzinfo=JST), tick=False)
def test_going_back_to_paper_names_the_fee_and_the_month_it_starts(client):
    account = AccountFactory()
    DeliveryPreferenceFactory(member=account.member, method="web")
    client.force_login(account)

    page = client.post("/account/paper/", {"step": "confirm", "method": "paper"}).content.decode()

    assert flyer_texts_in(page) == []
    assert "<strong>2025年4月請求分</strong>から紙の明細書をお届けします。" in page
    assert "紙の明細書には、2025年5月請求分から1通につき発行手数料110円(税込)がかかる" in page
    assert "毎月15日までのお手続きはその月の請求分から、16日以降のお手続きは翌月" in page


@pytest.mark.django_db
@pytest.mark.usefixtures("issuer_calendar")
@time_machine.travel(AFTER_CUTOFF, tick=False)
@pytest.mark.parametrize(
    ("preferences", "expected"),
    [
        # paper at the cutoff and still paper
        ([], "2025年5月請求分のお届け方法は毎月15日の時点のご登録で決まっています。"),
        # stopped paper on the 16th, after the cutoff
        (
            [("web", dt.datetime(2025, 5, 16, 9, 0, tzinfo=JST))],
            "紙明細の停止は承っております。お届け方法は毎月15日の時点のご登録で決まるため、"
            "2025年5月請求分は紙の明細書でお届けし、2025年6月請求分からWEB明細になります。",
        ),
        # web at the cutoff, asked for paper on the 16th
        (
            [
                ("web", dt.datetime(2025, 1, 20, 9, 0, tzinfo=JST)),
                ("paper", dt.datetime(2025, 5, 16, 9, 0, tzinfo=JST)),
            ],
            "紙明細のご希望は承っております。お届け方法は毎月15日の時点のご登録で決まるため、"
            "紙の明細書は2025年6月請求分からお届けします。",
        ),
    ],
    ids=["paper-and-still-paper", "web-after-the-cutoff", "paper-after-the-cutoff"],
)
def test_the_top_page_explains_the_issuers_cutoff_once_it_has_passed(client, preferences, expected):
    account = AccountFactory()
    for method, recorded_at in preferences:
        DeliveryPreferenceFactory(member=account.member, method=method, recorded_at=recorded_at)
    client.force_login(account)

    page = client.get("/").content.decode()

    assert expected in page
    assert flyer_texts_in(page) == []


@pytest.mark.django_db
@pytest.mark.usefixtures("issuer_calendar")
@time_machine.travel(AFTER_CUTOFF, tick=False)
def test_the_english_pages_follow_the_calendar_too(client):
    account = AccountFactory()
    DeliveryPreferenceFactory(
        member=account.member, method="web", recorded_at=dt.datetime(2025, 5, 16, 9, 0, tzinfo=JST)
    )
    client.force_login(account)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"

    top = client.get("/").content.decode()
    not_found = client.get("/statements/2024-12/").content.decode()

    assert "decided by your setting on day 15 of each month" in top
    assert "All statements (12-month history)" in top
    assert "(12 at most, from the January 2025 statement onwards)" in not_found
    assert flyer_texts_in(top) == [] and flyer_texts_in(not_found) == []


# --- registration, login and the emails ---------------------------------------------------------


@pytest.fixture
def cardholder(db):
    member = MemberFactory(birth_date=BIRTH_DATE, email="core@example.jp")
    CardFactory(member=member, number=CARD_NUMBER, expiry="2029-12")
    PhoneFactory(member=member, number=MOBILE_PHONE)
    return member


@pytest.mark.usefixtures("issuer_calendar")
@time_machine.travel(BEFORE_CUTOFF, tick=False)
def test_registration_and_login_pages_and_their_emails(client, cardholder):
    email = "hanako@example.jp"
    pages = _pages(client, "/login/", "/register/")
    assert client.post("/register/", {"agree": "on"}).url == "/register/email/"
    pages |= _pages(client, "/register/email/")
    client.post("/register/email/", {"email": email, "email_confirm": email})
    identity_path = link_in(outbox(email, "registration_link")[-1])
    pages |= _pages(client, "/register/email/sent/", identity_path)
    assert client.post(identity_path, identity(card_number=CARD_NUMBER)).status_code == 302
    pages |= _pages(client, "/register/confirm/")
    assert client.post("/register/confirm/").url == "/register/confirm/sent/"
    pages |= _pages(client, "/register/confirm/sent/")
    completion = link_in(outbox(email, "registration_completion_link")[-1])
    pages |= _pages(client, completion)
    done = client.post(completion)
    assert done.status_code == 200
    pages["completion"] = done.content.decode()
    client.logout()
    pages["/login/code/"] = log_in(client, "morioka.hanako", PASSWORD, email).content.decode()

    for name, page in pages.items():
        assert flyer_texts_in(page) == [], name
    completed = outbox(email, "registration_completed")[-1]
    for text in (completed.body_text, completed.body_html):
        assert (
            "紙の請求書の郵送は停止されます(毎月15日までのご登録はその月の請求分から反映されます)。"
            in text
        )
    for message in OutboxMessage.objects.all():
        texts = (message.subject, message.body_text, message.body_html)
        assert flyer_texts_in("\n".join(texts)) == [], message.template


EMAIL_TEMPLATES = sorted(
    path.name
    for path in (
        Path(django_settings.BASE_DIR) / "notifications" / "templates" / "notifications" / "email"
    ).iterdir()
    if path.is_dir()
)

#: Every name an email template uses, with values that print no calendar number of their own.
EMAIL_CONTEXT = {
    "at": dt.datetime(2025, 5, 12, 10, 0, tzinfo=JST),
    "code": "246802",
    "confirmation_date": dt.date(2025, 5, 20),
    "expires_at": dt.datetime(2025, 5, 12, 10, 30, tzinfo=JST),
    "login_id": "morioka.hanako",
    "login_url": "http://127.0.0.1:8000/login/",
    "minutes": 30,
    "month": "2025-05",
    "month_label": "2025年5月請求分",
    "name": "盛岡 花子",
    "statement_path": "statements/2025-05/",
    "today": dt.date(2025, 5, 21),
    "until": dt.datetime(2025, 5, 12, 11, 0, tzinfo=JST),
    "url": "http://127.0.0.1:8000/register/identity/token/",
    "web_delivery": True,
}


@pytest.mark.usefixtures("issuer_calendar")
@pytest.mark.parametrize("template", EMAIL_TEMPLATES)
def test_every_email_prints_the_issuers_calendar(template):
    subject, text, html = render_email(template, EMAIL_CONTEXT)

    assert flyer_texts_in("\n".join((subject, text, html))) == []
    if template == "registration_completed":
        assert "毎月15日までのご登録" in text and "毎月15日までのご登録" in html


def test_the_email_list_is_the_template_folder():
    assert {"registration_completed", "statement_confirmed", "login_code"} <= set(EMAIL_TEMPLATES)


# --- the rules under the issuer's calendar -------------------------------------------------------


@pytest.mark.usefixtures("issuer_calendar")
@pytest.mark.parametrize(
    ("moment", "month"),
    [
        (dt.datetime(2025, 5, 15, 23, 59, 59, tzinfo=JST), BillingMonth(2025, 5)),
        (dt.datetime(2025, 5, 16, 0, 0, 0, tzinfo=JST), BillingMonth(2025, 6)),
    ],
)
def test_the_configured_cutoff_decides_the_first_month(moment, month):
    assert cal.first_month_affected(moment) == month


@pytest.mark.usefixtures("issuer_calendar")
def test_the_configured_window_and_days():
    months = cal.visible_months(BillingMonth(2026, 6))
    assert len(months) == 12 and months[-1] == BillingMonth(2025, 7)
    assert cal.visible_months(BillingMonth(2025, 4))[-1] == BillingMonth(2025, 1)
    # 2025-04-20 is a Sunday; 2025-04-27 too.
    assert cal.confirmation_date(BillingMonth(2025, 4)) == dt.date(2025, 4, 21)
    assert cal.debit_date(BillingMonth(2025, 4)) == dt.date(2025, 4, 28)


@pytest.mark.usefixtures("issuer_calendar")
def test_the_terms_templates_print():
    terms = cal.calendar_terms()
    assert (terms.cutoff_day, terms.day_after_cutoff) == (15, 16)
    assert (terms.confirmation_day, terms.debit_day, terms.history_months) == (20, 27, 12)
    assert terms.service_start_label == "2025年1月請求分"
    assert terms.paper_fee_start_label == "2025年5月請求分"
    assert (terms.paper_fee_net, terms.paper_fee_tax, terms.paper_fee) == (100, 10, 110)


def test_the_flyers_fee_is_150_yen_plus_15_yen_tax():
    assert cal.paper_fee_amount() == (150, 15)
    assert cal.paper_fee_total() == 165


@pytest.mark.parametrize(
    ("net", "percent", "tax"),
    [(155, 10, 15), (155, 8, 12), (199, 8, 15), (150, 0, 0), (0, 10, 0), (101, 100, 101)],
)
def test_the_fee_tax_is_rounded_down_to_the_yen(settings, net, percent, tax):
    """155 × 8 % = 12.4 → 12 yen: consumption tax rounded down (切り捨て) once per statement."""
    settings.MEISAI_CALENDAR = {
        **settings.MEISAI_CALENDAR,
        "paper_fee_net": net,
        "paper_fee_tax_percent": percent,
    }
    assert cal.paper_fee_amount() == (net, tax)


# --- the environment ------------------------------------------------------------------------------

CALENDAR_VARIABLES = (
    "MEISAI_CUTOFF_DAY",
    "MEISAI_CONFIRMATION_DAY",
    "MEISAI_DEBIT_DAY",
    "MEISAI_SERVICE_START",
    "MEISAI_HISTORY_MONTHS",
    "MEISAI_PAPER_FEE_FROM",
    "MEISAI_PAPER_FEE_NET",
    "MEISAI_PAPER_FEE_TAX_PERCENT",
)


def _python(code: str, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in CALENDAR_VARIABLES}
    env.update(variables, DJANGO_SETTINGS_MODULE="meisai.settings")
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )


def test_the_calendar_comes_from_the_environment():
    result = _python(
        "import json, django; django.setup(); from django.conf import settings;"
        " print(json.dumps(settings.MEISAI_CALENDAR, sort_keys=True))",
        {
            "MEISAI_CUTOFF_DAY": "15",
            "MEISAI_CONFIRMATION_DAY": "20",
            "MEISAI_DEBIT_DAY": "27",
            "MEISAI_SERVICE_START": "2025-01",
            "MEISAI_HISTORY_MONTHS": "12",
            "MEISAI_PAPER_FEE_FROM": "2025-05",
            "MEISAI_PAPER_FEE_NET": "100",
            "MEISAI_PAPER_FEE_TAX_PERCENT": "10",
        },
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ISSUER_CALENDAR


def test_the_flyers_calendar_is_the_default():
    result = _python(
        "import json, django; django.setup(); from django.conf import settings;"
        " print(json.dumps(settings.MEISAI_CALENDAR, sort_keys=True))",
        {},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "service_start": "2024-11",
        "history_months": 13,
        "registration_cutoff_day": 9,
        "confirmation_day": 13,
        "debit_day": 26,
        "paper_fee_start": "2025-04",
        "paper_fee_net": 150,
        "paper_fee_tax_percent": 10,
    }


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MEISAI_CUTOFF_DAY", "0"),
        ("MEISAI_CUTOFF_DAY", "29"),
        ("MEISAI_CUTOFF_DAY", "nine"),
        ("MEISAI_CUTOFF_DAY", "13"),  # not before the confirmation day (13)
        ("MEISAI_CONFIRMATION_DAY", "31"),
        ("MEISAI_DEBIT_DAY", "-1"),
        ("MEISAI_DEBIT_DAY", "12"),  # before the confirmation day (13)
        ("MEISAI_SERVICE_START", "2024-13"),
        ("MEISAI_SERVICE_START", "2024/11"),
        ("MEISAI_PAPER_FEE_FROM", "April"),
        ("MEISAI_HISTORY_MONTHS", "0"),
        ("MEISAI_HISTORY_MONTHS", "121"),
        ("MEISAI_PAPER_FEE_NET", "-150"),
        ("MEISAI_PAPER_FEE_NET", "150.5"),
        ("MEISAI_PAPER_FEE_TAX_PERCENT", "101"),
        ("MEISAI_PAPER_FEE_TAX_PERCENT", "10%"),
    ],
)
def test_a_bad_value_stops_the_start_with_one_line_naming_it(variable, value):
    result = _python("import meisai.config", {variable: value})

    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"django.core.exceptions.ImproperlyConfigured: {variable} "), last
    assert "Traceback" not in last
