"""A personal message over 20 characters gets an error, never a silent cut (issue 15, SPEC 3.4,
3.5): the inputs carry no ``maxlength`` (a browser would cut a longer message unseen), and the
server refuses 21 characters with a message that names the limit."""

from __future__ import annotations

import re

import pytest

from tests.accounts.conftest import FACTORY_PASSWORD, identity, start_registration

pytestmark = pytest.mark.django_db

TWENTY_ONE = "岩手山が見える北上川の桜並木と遠野のかっぱ"


def message_input(page: str) -> str:
    (tag,) = re.findall(r'<input[^>]*name="personal_message"[^>]*>', page)
    return tag


def test_the_message_page_lets_a_long_message_reach_the_server(member_client, account):
    assert len(TWENTY_ONE) == 21
    page = member_client.get("/account/message/").content.decode()
    assert "maxlength" not in message_input(page)

    refused = member_client.post(
        "/account/message/", {"personal_message": TWENTY_ONE, "current_password": FACTORY_PASSWORD}
    )

    assert refused.status_code == 200
    text = refused.content.decode()
    assert "20 文字以下" in text and "21 文字" in text
    assert "現在のパスワードが正しくありません" not in text  # refused for its length alone
    assert f'value="{TWENTY_ONE}"' in message_input(text)  # kept whole, to shorten by hand
    account.refresh_from_db()
    assert account.personal_message == "北上川の桜"


def test_registration_lets_a_long_message_reach_the_server(client, cardholder, frozen):
    path = start_registration(client)
    assert "maxlength" not in message_input(client.get(path).content.decode())

    refused = client.post(path, identity(personal_message=TWENTY_ONE))

    assert refused.status_code == 200
    assert "20 文字以下" in refused.content.decode()
    assert client.get("/register/confirm/").status_code == 302  # not verified


def test_twenty_characters_are_kept_whole(member_client, account):
    response = member_client.post(
        "/account/message/",
        {"personal_message": TWENTY_ONE[:20], "current_password": FACTORY_PASSWORD},
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.personal_message == TWENTY_ONE[:20]
