"""The member journeys that send mail, driven through the pages like a browser, for the tests of
every mail path: registration, login from a new browser, lockout, password reset, forgotten ID,
お客様情報 changes.

Each journey reads the emails it needs (links, codes) through a ``Reader``: from the outbox
rows while they wait (``queued``), or from the mail actually delivered (``delivered``) when the
sender runs after every commit, as in production.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core import mail
from django.test import Client

from meisai.members.models import Member, Phone
from meisai.notifications.models import OutboxMessage
from tests.factories import CardFactory, MemberFactory, PhoneFactory

CARD_NUMBER = "4980123456781234"
MOBILE_PHONE = "09087654321"
BIRTH_DATE = dt.date(1958, 7, 21)
PASSWORD = "yukiguni-ginga-7"
NEW_PASSWORD = "hiraizumi-konjikido-9"
EMAIL = "hanako@example.jp"
LOGIN_ID = "morioka.hanako"

#: ``(template, to)`` → the text of the latest such email.
Reader = Callable[[str, str], str]


def queued(template: str, to: str) -> str:
    """The latest waiting email's text, as the sender will open it."""
    row = OutboxMessage.objects.filter(template=template, to=to).order_by("id").last()
    assert row is not None, f"no {template} email to {to}"
    return row.body_text


def delivered_of(template: str, to: str | None = None) -> list[Any]:
    """The delivered mails of ``template`` (to ``to``), matched by their stable Message-ID."""
    rows = OutboxMessage.objects.filter(template=template)
    if to is not None:
        rows = rows.filter(to=to)
    ids = {f"<{key.replace(':', '.')}@meisai>" for key in rows.values_list("key", flat=True)}
    return [m for m in mail.outbox if m.extra_headers.get("Message-ID") in ids]


def delivered(template: str, to: str) -> str:
    """The latest delivered email's text."""
    mails = delivered_of(template, to)
    assert mails, f"no {template} email delivered to {to}"
    return str(mails[-1].body)


def link_in(text: str) -> str:
    """The path of the (only) site link in an email's text."""
    paths = re.findall(re.escape(settings.MEISAI_BASE_URL) + r"(/\S+)", text)
    assert len(paths) == 1, text
    return paths[0]


def code_in(text: str) -> str:
    match = re.search(r"確認コード:(\d{6})", text)
    assert match, text
    return match.group(1)


def cardholder() -> Member:
    """A member as the core system knows them: one card, a mobile phone, an address."""
    member = MemberFactory(birth_date=BIRTH_DATE, email="core@example.jp")
    CardFactory(member=member, number=CARD_NUMBER, expiry="2029-12")
    PhoneFactory(member=member, kind=Phone.Kind.MOBILE, number=MOBILE_PHONE)
    return member


def follow(client: Client, path: str) -> Any:
    """Open an emailed link and, when it shows a page with a button (links that change state
    do, since mail scanners fetch links), press it."""
    page = client.get(path)
    assert page.status_code == 200, path
    if 'method="post"' in page.content.decode():
        page = client.post(path)
    assert page.status_code in (200, 302), path
    return page


def _through_step_6(
    client: Client, read: Reader, *, email: str, login_id: str, password: str, message: str
) -> tuple[str, str]:
    """Steps 3 to 6 through the pages; returns the identity link and the completion link."""
    assert client.post("/register/", {"agree": "on"}).status_code == 302
    response = client.post("/register/email/", {"email": email, "email_confirm": email})
    assert response.status_code == 302
    identity = link_in(read("registration_link", email))
    response = client.post(
        identity,
        {
            "card_number": CARD_NUMBER,
            "card_expiry": "12/29",
            "birth_date": BIRTH_DATE.isoformat(),
            "phone": MOBILE_PHONE,
            "login_id": login_id,
            "password": password,
            "password_confirm": password,
            "personal_message": message,
        },
    )
    assert response.status_code == 302, response.content.decode()
    assert client.post("/register/confirm/").status_code == 302
    return identity, link_in(read("registration_completion_link", email))


def register(client: Client, read: Reader, *, email: str = EMAIL) -> list[str]:
    """The six steps; returns the two links the member was sent."""
    identity, completion = _through_step_6(
        client, read, email=email, login_id=LOGIN_ID, password=PASSWORD, message="岩手山が見える"
    )
    follow(client, completion)
    return [identity, completion]


def links_in(text: str) -> list[str]:
    return re.findall(re.escape(settings.MEISAI_BASE_URL) + r"(/\S+)", text)


def reregister(
    client: Client, read: Reader, *, email: str, login_id: str, owner_email: str
) -> list[str]:
    """A member with an account registers again from ``email``; the owner's address confirms
    it from the notice. Returns the two completion-side links and the notice's two links."""
    identity, completion = _through_step_6(
        client, read, email=email, login_id=login_id, password=PASSWORD, message="中津川の鮭"
    )
    assert "再登録のお手続きを受け付けました" in follow(client, completion).content.decode()
    confirm, cancel = links_in(read("reregistration_notice", owner_email))
    assert "再登録が完了しました" in follow(Client(), confirm).content.decode()
    return [identity, completion, confirm, cancel]


def log_in(client: Client, read: Reader, *, password: str = PASSWORD, email: str = EMAIL) -> str:
    """Log in from a browser the account has not used; returns the emailed code."""
    response = client.post("/login/", {"username": LOGIN_ID, "password": password})
    assert response.status_code == 302 and response.url == "/login/code/", response
    code = code_in(read("login_code", email))
    assert client.post("/login/code/", {"code": code}).status_code == 302
    return code


def password_reset(client: Client, read: Reader, *, email: str = EMAIL) -> str:
    """Forgotten password: the emailed link, followed with a new password; returns the link."""
    page = client.post(
        "/login/forgot-password/",
        {"card_number": CARD_NUMBER, "birth_date": BIRTH_DATE.isoformat()},
    )
    assert page.status_code == 200
    path = link_in(read("password_reset", email))
    response = client.post(path, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert response.status_code == 302, response.content.decode()
    return path


def email_change(client: Client, read: Reader, *, password: str, new_email: str) -> str:
    """A logged-in member changes the address, confirmed from the new one; returns the link."""
    response = client.post(
        "/account/email/",
        {"email": new_email, "email_confirm": new_email, "current_password": password},
    )
    assert response.status_code == 302, response.content.decode()
    path = link_in(read("email_change_confirm", new_email))
    follow(Client(), path)  # the link works in any browser, e.g. the phone's mail app
    return path


def lock_out(client: Client) -> None:
    """Ten wrong passwords in a row lock the login ID and tell its address."""
    for _ in range(10):
        assert client.post("/login/", {"username": LOGIN_ID, "password": "wrong-pass-1"})


def forgot_id(client: Client, email: str) -> Any:
    return client.post("/login/forgot-id/", {"email": email})


def password_change(client: Client, *, current: str, new: str) -> None:
    response = client.post(
        "/account/password/",
        {"current_password": current, "password": new, "password_confirm": new},
    )
    assert response.status_code == 302, response.content.decode()


def personal_message_change(client: Client, *, password: str) -> None:
    response = client.post(
        "/account/message/", {"personal_message": "遠野のかっぱ", "current_password": password}
    )
    assert response.status_code == 302, response.content.decode()
