"""Fixtures of the accounts tests: a member as the core system knows them, and helpers that walk
the registration and login pages like a browser would."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine

from meisai.accounts.models import Account
from meisai.clock import JST
from meisai.members.models import Card, Member, Phone
from meisai.notifications.models import OutboxMessage
from tests.factories import AccountFactory, CardFactory, MemberFactory, PhoneFactory

CARD_NUMBER = "4980123456781234"
HOME_PHONE = "0196231234"
MOBILE_PHONE = "09087654321"
BIRTH_DATE = dt.date(1958, 7, 21)
PASSWORD = "yukiguni-ginga-7"
#: The password ``AccountFactory`` gives every account.
FACTORY_PASSWORD = "correct-horse-battery"

_URL = re.compile(r"http://127\.0\.0\.1:8000(/\S+)")


@dataclass
class Cardholder:
    member: Member
    card: Card


@pytest.fixture
def cardholder(db: Any) -> Cardholder:
    member = MemberFactory(birth_date=BIRTH_DATE, email="core@example.jp")
    card = CardFactory(member=member, number=CARD_NUMBER, expiry="2029-12")
    PhoneFactory(member=member, kind=Phone.Kind.HOME, number=HOME_PHONE)
    PhoneFactory(member=member, kind=Phone.Kind.MOBILE, number=MOBILE_PHONE)
    return Cardholder(member=member, card=card)


@pytest.fixture
def frozen() -> Any:
    """Time stands still at 2025-01-10 10:00 JST unless a test moves it."""
    with time_machine.travel(dt.datetime(2025, 1, 10, 10, 0, tzinfo=JST), tick=False) as traveller:
        yield traveller


def identity(**overrides: str) -> dict[str, str]:
    data = {
        "card_number": CARD_NUMBER,
        "card_expiry": "12/29",
        "birth_date": BIRTH_DATE.isoformat(),
        "phone": MOBILE_PHONE,
        "login_id": "morioka.hanako",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "personal_message": "岩手山が見える",
    }
    data.update(overrides)
    return data


def outbox(to: str, template: str | None = None) -> list[OutboxMessage]:
    rows = OutboxMessage.objects.filter(to=to).order_by("id")
    if template:
        rows = rows.filter(template=template)
    return list(rows)


def link_in(message: OutboxMessage) -> str:
    """The path of the (only) site URL in an email's text."""
    paths = _URL.findall(message.body_text)
    assert len(paths) == 1, message.body_text
    return paths[0]


def code_in(message: OutboxMessage) -> str:
    match = re.search(r"確認コード:(\d{6})", message.body_text)
    assert match, message.body_text
    return match.group(1)


def start_registration(client: Any, email: str = "hanako@example.jp") -> str:
    """Steps 3 and 4; returns the path of the 登録手続きURL."""
    assert client.post("/register/", {"agree": "on"}).url == "/register/email/"
    response = client.post("/register/email/", {"email": email, "email_confirm": email})
    assert response.url == "/register/email/sent/"
    return link_in(outbox(email, "registration_link")[-1])


def links_in(message: OutboxMessage) -> list[str]:
    """The paths of every site URL in an email's text, in order."""
    return _URL.findall(message.body_text)


def complete_registration(client: Any, email: str = "hanako@example.jp", **overrides: str) -> Any:
    """The whole registration up to the completion button; returns the page the button shows
    (the completion page, or the pending page of a re-registration)."""
    identity_path = start_registration(client, email)
    response = client.post(identity_path, identity(**overrides))
    assert response.status_code == 302, response.content.decode()
    assert client.post("/register/confirm/").url == "/register/confirm/sent/"
    completion = link_in(outbox(email, "registration_completion_link")[-1])
    # The link opens a page with a button; the button's POST completes the registration.
    assert client.get(completion).status_code == 200
    page = client.post(completion)
    assert page.status_code == 200, page.content.decode()
    return page


def register(client: Any, email: str = "hanako@example.jp", **overrides: str) -> Account:
    """The whole registration of a member without an account; returns the new account."""
    complete_registration(client, email, **overrides)
    return Account.objects.get(login_id=overrides.get("login_id", "morioka.hanako"))


def log_in(client: Any, login_id: str, password: str, email: str) -> Any:
    """Log in from a new browser, answering the emailed code; returns the code page response."""
    response = client.post("/login/", {"username": login_id, "password": password})
    assert response.url == "/login/code/", response.content.decode()
    code_page = client.get("/login/code/")
    code = code_in(outbox(email, "login_code")[-1])
    assert client.post("/login/code/", {"code": code}).url == "/"
    return code_page


@pytest.fixture
def account(db: Any) -> Account:
    """Kitakami Jiro: a member with a card, an address and a web account (お客様情報 tests)."""
    member = MemberFactory(birth_date=dt.date(1950, 2, 3))
    CardFactory(member=member, number=CARD_NUMBER)
    return AccountFactory(
        member=member,
        login_id="kitakami.jiro",
        email="jiro@example.jp",
        personal_message="北上川の桜",
    )


@pytest.fixture
def member_client(client: Any, account: Account) -> Any:
    """Jiro logged in through the login page (password and emailed code), outbox emptied."""
    log_in(client, "kitakami.jiro", FACTORY_PASSWORD, "jiro@example.jp")
    OutboxMessage.objects.all().delete()
    return client
