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

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils.html import escape

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
        "delivery_preference_changed",
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


#: Stands for a per-row value while a template is rendered once for a whole query (no template
#: prints it, and autoescaping leaves it as it is).
_MARKER = "\u27eameisai:{}\u27eb"
_MARKED = re.compile("\u27eameisai:(\\w+)\u27eb")
#: Probe values for the check that a template prints each per-row value as it is: characters
#: HTML escapes, runs of white space that the subject's folding would change, and nothing.
_PROBES = ("<盛岡 & \"太郎\">  'x'\n", "")


def html_escape_sql(expression: str) -> str:
    """The SQL twin of Django's HTML ``escape`` (``&``, ``<``, ``>``, ``"``, ``'``)."""
    entities = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("''", "&#x27;"))
    for char, entity in entities:
        expression = f"replace({expression}, '{char}', '{entity}')"
    return expression


def _pieces(template: str, context: Mapping[str, Any], names: list[str]) -> list[list[str]]:
    """Subject, text and HTML rendered once, each split into literal text (even places) and
    the names of per-row values (odd places). Raises ValueError unless substituting values
    (HTML-escaped in the HTML body) gives what rendering each email gives, byte for byte."""
    marked = render_email(template, {**context, **{n: _MARKER.format(n) for n in names}})
    pieces = [_MARKED.split(part) for part in marked]
    printed = {name for part in pieces for name in part[1::2]}
    if printed != set(names):
        raise ValueError(f"email {template!r} does not print {sorted(set(names) - printed)}")
    for probe in _PROBES:
        substituted = tuple(
            "".join(
                (escape(probe) if is_html else probe) if i % 2 else piece
                for i, piece in enumerate(part)
            )
            for part, is_html in zip(pieces, (False, False, True), strict=True)
        )
        if substituted != render_email(template, {**context, **dict.fromkeys(names, probe)}):
            raise ValueError(f"email {template!r} does not print {names} as they are")
    return pieces


def email_enqueue_query(*, template: str, context: Mapping[str, Any], rows: QuerySet) -> int:
    """Queue one email per row of ``rows`` in one ``INSERT … SELECT``; keys already in the
    outbox are skipped. Returns how many were queued.

    ``rows`` is a ``values()`` query of named expressions only: ``key``, ``to`` and one per
    context value that differs from email to email (``name=F("member__name_kanji")``);
    ``context`` holds the values common to all. The templates are rendered once, with markers
    where the per-row values go, and the database joins each body from the literal text and
    the row's values (HTML-escaped in ``body.html`` by ``html_escape_sql``): the outbox still
    holds exactly what is sent, and ``_pieces`` proves first, on probe values, that this gives
    what ``render_email`` gives. Plain templates only: a sealed body is encrypted one by one
    (``email_enqueue_many``).
    """
    if carries_secret(template):
        raise ValueError(f"email {template!r} is sealed: queue it with email_enqueue_many")
    columns = list(rows.query.annotation_select)
    if rows.query.values_select or not {"key", "to"} <= set(columns):
        raise ValueError("rows: a values() query of named expressions, with key and to")
    names = [name for name in columns if name not in ("key", "to")]
    subject, text, html = _pieces(template, context, names)
    params: list[Any] = []

    def value(literal: Any) -> str:
        params.append(literal)
        return "%s"

    def joined(part: list[str], *, is_html: bool) -> str:
        terms = []
        for i, piece in enumerate(part):
            if i % 2:
                column = f"q.{connection.ops.quote_name(piece)}"
                terms.append(html_escape_sql(column) if is_html else column)
            elif piece:
                terms.append(value(piece))
        return " || ".join(terms) or "''"

    # Adapted as the ORM would (SQLite stores datetimes as text of its own format).
    moment = OutboxMessage._meta.get_field("created_at").get_db_prep_value(now(), connection)
    # In the order of _COPY_COLUMNS.
    expressions = [
        'q."key"', value(template), 'q."to"', joined(subject, is_html=False), "false",
        joined(text, is_html=False), joined(html, is_html=True),
        value(OutboxMessage.Status.PENDING.value), "0", value(moment), value(moment), "''",
    ]  # fmt: skip
    inner, inner_params = rows.query.sql_with_params()
    table = OutboxMessage._meta.db_table
    targets = ", ".join(f'"{name}"' for name in _COPY_COLUMNS)
    sql = (
        f"INSERT INTO {table} ({targets}) SELECT {', '.join(expressions)}"  # noqa: S608
        f" FROM ({inner}) AS q WHERE true ON CONFLICT (key) DO NOTHING"
    )
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(sql, [*params, *inner_params])
        queued = cursor.rowcount
        transaction.on_commit(outbox_kick)
    return queued


def email_enqueue(*, key: str, template: str, to: str, context: Mapping[str, Any]) -> None:
    """Queue one email (skipped if ``key`` was queued before)."""
    email_enqueue_many([Email(key=key, template=template, to=to, context=context)])


def outbox_kick() -> None:
    """Ask for delivery: inline in the embedded default, a Celery task in production."""
    from meisai.notifications.tasks import outbox_send

    outbox_send.delay()
