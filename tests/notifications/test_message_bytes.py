"""The sender's message bytes: Django's ``EmailMultiAlternatives`` output, with the headers
built once per subject. Compared with Django's own bytes (the Date and the MIME boundary, which
differ from one call to the next, normalised)."""

from __future__ import annotations

import re

import pytest

from meisai.notifications.models import OutboxMessage
from meisai.notifications.sender import _as_email, message_bytes

SUBJECT = "【日専連パートナーズ】2025年6月請求分のご請求額が確定しました"


def _normalised(data: bytes) -> bytes:
    data = re.sub(rb"Date: [^\r]*", b"Date: -", data)
    boundary = re.search(rb'boundary="([^"]+)"', data)
    return data.replace(boundary.group(1), b"BOUNDARY") if boundary else data


def _message(text: str, html: str, to: str = "taro@example.jp") -> OutboxMessage:
    message = OutboxMessage(key="statement_confirmed:2025-06:N1", to=to, subject=SUBJECT)
    message.body_text = text
    message.body_html = html
    return message


CASES = {
    "japanese text and html": (
        "盛岡 太郎 様\n\n.ご請求額が確定しました。\r\n",
        "<p>盛岡 &amp; 様</p>\n",
    ),
    "text only": ("盛岡 太郎 様\nご請求額が確定しました。\n", ""),
    "ascii bodies (7bit)": ("Dear member\n", "<p>Dear</p>"),
    "a line too long for 8bit": ("あ" * 400 + "\n", "<p>い</p>"),
    "no final newline, a lone CR": ("一行目\r二行目", "<p>本文</p>"),
}


@pytest.mark.parametrize(("text", "html"), CASES.values(), ids=CASES.keys())
def test_message_bytes_are_what_django_writes(text, html):
    message = _message(text, html)
    django_bytes = _as_email(message).message().as_bytes(linesep="\r\n")
    assert _normalised(message_bytes(message)) == _normalised(django_bytes)


def test_a_non_ascii_address_is_written_by_django():
    message = _message("本文\n", "<p>本文</p>", to="太郎@example.jp")
    django_bytes = _as_email(message).message().as_bytes(linesep="\r\n")
    assert _normalised(message_bytes(message)) == _normalised(django_bytes)


def test_each_message_gets_a_boundary_of_its_own():
    first, second = (message_bytes(_message("本文\n", "<p>本文</p>")) for _ in range(2))
    boundaries = [re.search(rb'boundary="([^"]+)"', data).group(1) for data in (first, second)]
    assert boundaries[0] != boundaries[1]
