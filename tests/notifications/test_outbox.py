"""Queueing email: one outbox row per key, ever, whichever way the rows are stored (COPY through
a staging table on PostgreSQL, bulk_create elsewhere)."""

from __future__ import annotations

import pytest

from meisai.notifications.models import OutboxMessage
from meisai.notifications.services import Email, email_enqueue, email_enqueue_many

pytestmark = pytest.mark.django_db

CONTEXT = {
    "name": "盛岡 太郎",
    "month_label": "2025年6月請求分",
    "statement_path": "statements/2025-06/",
}


def email(key: str, to: str = "taro@example.jp", name: str = "盛岡 太郎") -> Email:
    return Email(key=key, template="statement_confirmed", to=to, context={**CONTEXT, "name": name})


def test_keys_queued_before_or_twice_in_one_call_are_skipped():
    email_enqueue(**vars(email("c", to="first@example.jp")))
    offered = email_enqueue_many(
        [email("a"), email("b", name="花巻 花子"), email("a", to="again@example.jp"),
         email("c", to="second@example.jp"), email("d")],
        batch_size=2,
    )  # fmt: skip
    assert offered == 5
    rows = dict(OutboxMessage.objects.values_list("key", "to"))
    assert rows == {
        "a": "taro@example.jp",
        "b": "taro@example.jp",
        "c": "first@example.jp",
        "d": "taro@example.jp",
    }


def test_a_queued_message_holds_what_will_be_sent():
    email_enqueue_many([email("x", name="花巻 花子")])
    message = OutboxMessage.objects.get(key="x")
    assert message.status == OutboxMessage.Status.PENDING
    assert message.attempts == 0 and message.sent_at is None and message.last_error == ""
    assert message.next_attempt_at == message.created_at
    assert message.subject and "\n" not in message.subject
    assert "花巻 花子" in message.body_text and "花巻 花子" in message.body_html
    assert "statements/2025-06/" in message.body_text
