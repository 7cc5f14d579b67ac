"""Over-long input gets a form error, never a server error (SPEC 3.10).

Every field of every form of the member pages — login and its code, the registration steps,
both recoveries and the reset, the お客様情報 changes, the paper preference and the language
switch — is posted, one at a time, with values longer than any column behind it (the other
fields valid). PostgreSQL refuses a string longer than its ``varchar``, SQLite keeps it, so the
test runs on both; a field that reaches the database unbounded answers 500 on PostgreSQL only.
Fields are read from the rendered page, so a field added later is covered without a change here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest
from django.test import Client

from meisai.members.models import Phone
from meisai.notifications.models import OutboxMessage
from tests.accounts.conftest import (
    BIRTH_DATE,
    CARD_NUMBER,
    FACTORY_PASSWORD,
    HOME_PHONE,
    MOBILE_PHONE,
    identity,
    link_in,
    log_in,
    outbox,
    start_registration,
)
from tests.factories import AccountFactory, CardFactory, MemberFactory, PhoneFactory

pytestmark = pytest.mark.django_db


#: Longer than every column behind a form: letters, digits, and an address that is valid to
#: the form (320 characters at most) but longer than an email column (254).
LONG_VALUES = {
    "300 letters": "a" * 300,
    "300 digits": "1" * 300,
    "a 259-character address": "a" * 64 + "@" + ("b" * 63 + ".") * 3 + "jp",
    "10,000 letters": "あ" * 10_000,
}

#: The member of the お客様情報 pages and the recoveries (the registrant is another one).
JIRO_CARD = "4980123456785678"
JIRO_BIRTH_DATE = dt.date(1950, 2, 3)


class _Fields(HTMLParser):
    """The names a page's POST forms submit (``csrfmiddlewaretoken`` aside)."""

    def __init__(self, actions: set[str | None]) -> None:
        super().__init__()
        self.actions = actions
        self.in_post_form = False
        self.names: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.in_post_form = (values.get("method") or "").lower() == "post" and (
                values.get("action") in self.actions
            )
        elif self.in_post_form and tag in {"input", "textarea", "select", "button"}:
            name = values.get("name")
            if name and name != "csrfmiddlewaretoken" and name not in self.names:
                self.names.append(name)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_post_form = False


def fields_of(page: str, actions: set[str | None]) -> list[str]:
    """The fields of the forms of ``page`` whose ``action`` is one of ``actions``."""
    parser = _Fields(actions)
    parser.feed(page)
    return parser.names


@dataclass
class Form:
    """A page with a form: how to reach it, and values that the form accepts (a value for a
    field the page does not have is ignored, so a field may be named before the form has it)."""

    reach: Callable[[], tuple[Client, str]]
    valid: dict[str, str]
    #: The form posts elsewhere than its own page (the footer's language switch).
    post_to: str | None = None


def _jiro() -> None:
    member = MemberFactory(birth_date=JIRO_BIRTH_DATE)
    CardFactory(member=member, number=JIRO_CARD)
    AccountFactory(member=member, login_id="kitakami.jiro", email="jiro@example.jp")


def _registrant() -> None:
    member = MemberFactory(birth_date=BIRTH_DATE, email="core@example.jp")
    CardFactory(member=member, number=CARD_NUMBER, expiry="2029-12")
    PhoneFactory(member=member, kind=Phone.Kind.HOME, number=HOME_PHONE)
    PhoneFactory(member=member, kind=Phone.Kind.MOBILE, number=MOBILE_PHONE)


def _visitor(path: str) -> Callable[[], tuple[Client, str]]:
    return lambda: (Client(), path)


def _email_step() -> tuple[Client, str]:
    client = Client()
    assert client.post("/register/", {"agree": "on"}).url == "/register/email/"
    return client, "/register/email/"


def _logged_in(path: str) -> Callable[[], tuple[Client, str]]:
    def reach() -> tuple[Client, str]:
        client = Client()
        log_in(client, "kitakami.jiro", FACTORY_PASSWORD, "jiro@example.jp")
        return client, path

    return reach


def _code_page() -> tuple[Client, str]:
    client = Client()
    response = client.post("/login/", {"username": "kitakami.jiro", "password": FACTORY_PASSWORD})
    assert response.url == "/login/code/"
    return client, "/login/code/"


def _identity_step() -> tuple[Client, str]:
    client = Client()
    return client, start_registration(client, email=f"hanako{OutboxMessage.objects.count()}@ex.jp")


def _reset_page() -> tuple[Client, str]:
    client = Client()
    birth = JIRO_BIRTH_DATE.isoformat()
    client.post("/login/forgot-password/", {"card_number": JIRO_CARD, "birth_date": birth})
    return client, link_in(outbox("jiro@example.jp", "password_reset")[-1])


NEW_PASSWORD = "sakura-hanami-9"
FORMS = {
    "login": Form(_visitor("/login/"), {"username": "kitakami.jiro", "password": "wrong-pw-1"}),
    "login code": Form(_code_page, {"code": "000000"}),
    "registration terms": Form(_visitor("/register/"), {"agree": "on"}),
    "registration email": Form(
        _email_step, {"email": "h@example.jp", "email_confirm": "h@example.jp"}
    ),
    "registration identity": Form(_identity_step, identity()),
    "forgotten password": Form(
        _visitor("/login/forgot-password/"),
        {"card_number": JIRO_CARD, "birth_date": JIRO_BIRTH_DATE.isoformat()},
    ),
    "forgotten login ID": Form(_visitor("/login/forgot-id/"), {"email": "jiro@example.jp"}),
    "password reset": Form(
        _reset_page, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
    ),
    "email change": Form(
        _logged_in("/account/email/"),
        {
            "email": "jiro2@example.jp",
            "email_confirm": "jiro2@example.jp",
            "current_password": FACTORY_PASSWORD,
        },
    ),
    "password change": Form(
        _logged_in("/account/password/"),
        {
            "current_password": FACTORY_PASSWORD,
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    ),
    "personal message change": Form(
        _logged_in("/account/message/"),
        {"personal_message": "北上川の花火", "current_password": FACTORY_PASSWORD},
    ),
    "paper preference": Form(_logged_in("/account/paper/"), {"step": "confirm", "method": "web"}),
    "language switch": Form(
        _visitor("/login/"), {"language": "en", "next": "/login/"}, post_to="/i18n/setlang/"
    ),
}


def _parametrized() -> list:
    return [pytest.param(name, id=name) for name in FORMS]


@pytest.mark.parametrize("name", _parametrized())
def test_over_long_input_never_answers_500(name):
    _jiro()
    _registrant()
    form = FORMS[name]
    client, path = form.reach()
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    # The page's own form (no action, or its own path), not the footer's language switch or
    # the logout button, unless the form under test is one of those.
    actions = {form.post_to} if form.post_to else {None, "", path}
    path = form.post_to or path
    names = fields_of(page.content.decode(), actions)
    assert names, f"no form fields found for {path}"

    client.raise_request_exception = False
    server_errors = []
    for field in names:
        for what, value in LONG_VALUES.items():
            response = client.post(path, {**form.valid, field: value})
            if response.status_code >= 500:
                server_errors.append(f"{field} = {what}: {response.status_code}")
            elif response.status_code == 302 and not form.post_to:
                # Accepted, and the step moved on: come to the form again, as a browser would.
                client, path = form.reach()
                client.raise_request_exception = False
    assert server_errors == [], f"POST {path}: {server_errors}"
