"""Queueing email: one outbox row per key, ever, whichever way the rows are stored (COPY through
a staging table on PostgreSQL, bulk_create elsewhere)."""

from __future__ import annotations

import pytest
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Concat

from meisai.members.models import Member
from meisai.notifications.models import OutboxMessage
from meisai.notifications.services import (
    Email,
    email_enqueue,
    email_enqueue_many,
    email_enqueue_query,
    render_email,
)
from tests.factories import MemberFactory

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


def _members(*names: str) -> QuerySet:
    for name in names:
        MemberFactory(name_kanji=name)
    return Member.objects.order_by("member_no").values(
        key=Concat(Value("q:"), F("member_no")), to=F("email"), name=F("name_kanji")
    )


def test_a_query_of_rows_queues_exactly_what_rendering_each_email_gives():
    # Names with every character HTML escapes, and white space: the database's escaping (the
    # SQL twin of Django's) must give the bytes the template gives.
    names = ['盛岡 <太郎> & "花子"', "O'Hara  次郎", "花巻 花子"]
    rows = _members(*names)
    queued = email_enqueue_query(
        template="statement_confirmed",
        context={k: v for k, v in CONTEXT.items() if k != "name"},
        rows=rows,
    )
    assert queued == 3
    for row, name in zip(rows, names, strict=True):
        message = OutboxMessage.objects.get(key=row["key"])
        assert (message.subject, message.body_text, message.body_html) == render_email(
            "statement_confirmed", {**CONTEXT, "name": name}
        )
        assert (message.to, message.template, message.secret) == (
            row["to"],
            "statement_confirmed",
            False,
        )
        assert message.status == OutboxMessage.Status.PENDING and message.attempts == 0
        assert message.next_attempt_at == message.created_at and message.last_error == ""
    assert (
        "盛岡 &lt;太郎&gt; &amp; &quot;花子&quot;"
        in OutboxMessage.objects.get(key=rows[0]["key"]).body_html
    )


def test_a_query_of_rows_skips_keys_queued_before_and_counts_only_new_ones():
    rows = _members("盛岡 太郎", "花巻 花子")
    first = rows[0]
    email_enqueue(key=first["key"], template="statement_confirmed", to="old@example.jp",
                  context=CONTEXT)  # fmt: skip
    context = {k: v for k, v in CONTEXT.items() if k != "name"}
    assert email_enqueue_query(template="statement_confirmed", context=context, rows=rows) == 1
    assert email_enqueue_query(template="statement_confirmed", context=context, rows=rows) == 0
    assert OutboxMessage.objects.get(key=first["key"]).to == "old@example.jp"
    assert OutboxMessage.objects.count() == 2


def test_a_template_that_changes_a_per_row_value_or_is_sealed_is_refused():
    rows = Member.objects.values(key=F("member_no"), to=F("email"), today=F("name_kanji"))
    MemberFactory()
    context = {"month_label": "2025年6月請求分", "month": "2025-06", "confirmation_date": None}
    # The template formats ``today`` with a filter: one rendering cannot stand for every row.
    with pytest.raises(ValueError, match="does not print"):
        email_enqueue_query(template="operators_month_not_closed", context=context, rows=rows)
    with pytest.raises(ValueError, match="sealed"):
        email_enqueue_query(template="password_reset", context={}, rows=rows)
    assert OutboxMessage.objects.count() == 0
