"""With English chosen, the login-code page (with its resend button) and every registration page
read English (issue 15, docs/i18n.md); the Japanese pages are the other tests of this folder."""

from __future__ import annotations

import pytest
from django.conf import settings

from meisai.notifications.models import OutboxMessage
from tests.accounts.conftest import (
    FACTORY_PASSWORD,
    identity,
    link_in,
    outbox,
    start_registration,
)
from tests.core.test_i18n import choose
from tests.core.test_translations_complete import JAPANESE

pytestmark = pytest.mark.django_db


def japanese_left(page: str, *data: str) -> list[str]:
    """The Japanese left once the issuer's name, the footer's 日本語 and ``data`` are out."""
    rest = page.replace(settings.MEISAI_ISSUER_NAME, "").replace(">日本語<", "")
    for value in data:
        rest = rest.replace(value, "")
    return [line.strip() for line in rest.splitlines() if JAPANESE.search(line)]


def test_the_login_code_page_and_its_resend_are_english(client, account, frozen):
    choose(client, "en", on="/login/")
    client.post("/login/", {"username": "kitakami.jiro", "password": FACTORY_PASSWORD})

    page = client.get("/login/code/").content.decode()
    resent = client.post("/login/code/resend/", follow=True).content.decode()
    wrong = client.post("/login/code/", {"code": "000000"}).content.decode()

    assert '<html lang="en"' in page
    assert "<h1>Enter the verification code</h1>" in page
    assert "we have sent a 6-digit verification code to your registered email address" in page
    assert '<button type="submit" class="button secondary">Send a new code</button>' in page
    assert "We have sent a new code. Please enter the code in the new email" in resent
    assert "The verification code is not correct." in wrong
    for text in (page, resent):
        assert japanese_left(text, account.personal_message) == []
    assert OutboxMessage.objects.filter(template="login_code").count() == 2


def test_the_resend_refusal_is_english(client, account, frozen):
    choose(client, "en", on="/login/")
    client.post("/login/", {"username": "kitakami.jiro", "password": FACTORY_PASSWORD})
    for _ in range(5):
        client.post("/login/code/resend/")

    refused = client.post("/login/code/resend/")

    assert refused.status_code == 429
    assert "Please wait a while before asking for another code." in refused.content.decode()


def test_every_registration_page_is_english(client, cardholder, frozen):
    choose(client, "en", on="/register/")
    pages = {"terms": client.get("/register/").content.decode()}

    identity_path = start_registration(client)
    client.post(identity_path, identity())
    pages["confirm"] = client.get("/register/confirm/").content.decode()
    client.post("/register/confirm/")
    completion = link_in(outbox("hanako@example.jp", "registration_completion_link")[-1])
    pages["complete"] = client.post(completion).content.decode()

    assert "<h1>Web Services terms of use</h1>" in pages["terms"]
    assert "Registration, step 1 of 4" in pages["terms"]
    assert "<h1>Check your details</h1>" in pages["confirm"]
    assert "<dt>Password</dt><dd>(not shown)</dd>" in pages["confirm"]
    assert "<h1>Registration complete</h1>" in pages["complete"]
    assert "Please log in with the login ID “morioka.hanako”." in pages["complete"]
    data = (cardholder.member.name_kanji, identity()["personal_message"])
    for name, page in pages.items():
        assert japanese_left(page, *data) == [], name
