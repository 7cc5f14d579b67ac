"""Queueing email. Mail leaves meisai only through here: a row in the outbox, written in the
caller's transaction, delivered by the sender after commit.

Each email is a template triple under ``notifications/email/<name>/``: ``subject.txt``,
``body.txt`` and ``body.html``; callers pass only the context. No template may print a card
number, a password or an amount.

An email that carries a secret — a link or a code that lets its reader act as the member — is
stored sealed (SPEC 3.10, "Secrets"; ``models.py``, ``sealing.py``). Every template is taken to
carry one unless it is listed in ``PLAIN_TEMPLATES``: a new email is withheld from staff until
somebody has checked that it carries none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.template.loader import render_to_string

from meisai.clock import now
from meisai.core.raw_cursor import raw_cursor
from meisai.notifications.models import OutboxMessage

#: The emails without a link or code that acts for the member: their bodies are stored as they
#: are and shown in the back office. Links to the login page or to a statement are no secret
#: (they still need the password); a login ID alone is none either.
PLAIN_TEMPLATES = frozenset(
    {
        "account_locked",
        "account_replaced",
        "email_change_requested",
        "email_changed",
        "login_id_reminder",
        "operators_month_not_closed",
        "password_changed",
        "personal_message_changed",
        "registration_completed",
        "reregistration_ended",
        "reregistration_pending",
        "statement_confirmed",
    }
)


def carries_secret(template: str) -> bool:
    """Whether the emails of ``template`` carry a link or code that acts for the member."""
    return template not in PLAIN_TEMPLATES


@dataclass(frozen=True)
class Email:
    """One email to queue. ``key`` names it for ever: the same key is never sent twice."""

    key: str
    template: str
    to: str
    context: Mapping[str, Any]


def render_email(template: str, context: Mapping[str, Any]) -> tuple[str, str, str]:
    full = {
        "issuer_name": settings.MEISAI_ISSUER_NAME,
        "base_url": settings.MEISAI_BASE_URL,
        **context,
    }
    base = f"notifications/email/{template}"
    subject = " ".join(render_to_string(f"{base}/subject.txt", full).split())
    return (
        subject,
        render_to_string(f"{base}/body.txt", full),
        render_to_string(f"{base}/body.html", full),
    )


def _message(email: Email, moment: Any) -> OutboxMessage:
    subject, text, html = render_email(email.template, email.context)
    message = OutboxMessage(
        key=email.key,
        template=email.template,
        to=email.to,
        subject=subject,
        secret=carries_secret(email.template),
        next_attempt_at=moment,
        created_at=moment,
    )
    # Sealed here when secret: the clear text never reaches the database.
    message.body_text = text
    message.body_html = html
    return message


def email_enqueue_many(emails: Iterable[Email], *, batch_size: int = 5000) -> int:
    """Queue emails; keys already in the outbox are skipped. Returns how many were offered.

    The emails are stored in one transaction: the caller's, or — called in autocommit, as a
    view that writes nothing else does — one of the outbox's own, so that all of them or none
    are queued and the staging table of the COPY path lives until its rows are inserted.
    """
    moment = now()
    store = _store_by_copy if connection.vendor == "postgresql" else _store_by_bulk_create
    count = 0
    with transaction.atomic(savepoint=False):
        batch: list[OutboxMessage] = []
        for email in emails:
            batch.append(_message(email, moment))
            count += 1
            if len(batch) >= batch_size:
                store(batch)
                batch = []
        if batch:
            store(batch)
        transaction.on_commit(outbox_kick)
    return count


def _store_by_bulk_create(batch: list[OutboxMessage]) -> None:
    OutboxMessage.objects.bulk_create(batch, ignore_conflicts=True)


#: The outbox columns a new message fills (``id`` and ``sent_at`` are left to the table).
_COPY_COLUMNS = (
    "key", "template", "to", "subject", "secret", "stored_text", "stored_html", "status",
    "attempts", "next_attempt_at", "created_at", "last_error",
)  # fmt: skip
_STAGE = "meisai_outbox_stage"


def _store_by_copy(batch: list[OutboxMessage]) -> None:
    """PostgreSQL: the batch streams by COPY into a temporary table, and one ``INSERT … SELECT
    … ON CONFLICT (key) DO NOTHING`` adds the messages whose key is new — the same skip rule as
    ``bulk_create(ignore_conflicts=True)`` at a fraction of its cost per row (a month's million
    emails). The batch is built before the COPY opens: the caller's rows may come from a
    server-side cursor on the same connection, which cannot be read while a COPY runs.

    Runs inside a transaction (``email_enqueue_many`` opens one if the caller has none): the
    staging table is ``ON COMMIT DROP``, and in autocommit each statement commits on its own,
    so the table would be gone before the COPY that fills it."""
    assert connection.in_atomic_block, "the staging table lives only as long as a transaction"
    table = OutboxMessage._meta.db_table
    columns = ", ".join(f'"{name}"' for name in _COPY_COLUMNS)  # "to" is an SQL keyword
    with raw_cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_STAGE}")
        cursor.execute(
            f"CREATE TEMP TABLE {_STAGE} ON COMMIT DROP AS"  # noqa: S608 — names from the model
            f" SELECT {columns} FROM {table} WITH NO DATA"
        )
        with cursor.copy(f"COPY {_STAGE} ({columns}) FROM STDIN") as copy:
            for message in batch:
                copy.write_row([getattr(message, name) for name in _COPY_COLUMNS])
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {_STAGE}"  # noqa: S608
            " ON CONFLICT (key) DO NOTHING"
        )
        cursor.execute(f"DROP TABLE {_STAGE}")


def email_enqueue(*, key: str, template: str, to: str, context: Mapping[str, Any]) -> None:
    """Queue one email (skipped if ``key`` was queued before)."""
    email_enqueue_many([Email(key=key, template=template, to=to, context=context)])


def outbox_kick() -> None:
    """Ask for delivery: inline in the embedded default, a Celery task in production."""
    from meisai.notifications.tasks import outbox_send

    outbox_send.delay()
