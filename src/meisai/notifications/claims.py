"""How the sender claims outbox rows and marks them done: one transaction per message.

A claim is a row lock (``SELECT … FOR UPDATE SKIP LOCKED``) in a transaction of its own, so two
senders never take the same row and a sender that dies holds nothing: its connection closes, the
transaction rolls back, the row is due again at once. The mark (sent, refused, given up) is
saved in that transaction and committed, and only then may the final ``.`` of SMTP go out
(sender.py explains why that order sends each email once). Rows are claimed in
(next_attempt_at, id) order from where the last claim was (``_after``).

Two ways to hold that conversation, one contract (``first``, ``finish``, ``release``):

* ``OrmClaims``: Django's ORM and ``transaction.atomic``, a statement at a time. Used on SQLite
  and whenever the caller (or a test) already holds a transaction, which is not ours to end.
* ``PipelinedClaims``: PostgreSQL in autocommit, on the driver's connection below Django. The
  mark of one message and the claim of the next travel as one message to the server
  (``UPDATE …; SET LOCAL synchronous_commit TO off; COMMIT; BEGIN; SELECT … FOR UPDATE SKIP
  LOCKED``), written before the final ``.`` and answered while SMTP answers the ``.``: the
  database's round trip hides behind the mail server's, and a sender spends its time on SMTP.
  ``synchronous_commit`` off for the mark's transaction only: see ``MARK_COMMIT``.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from django.db import DatabaseError, connection, transaction
from psycopg import generators, pq
from psycopg.adapt import Transformer

from meisai.clock import now
from meisai.notifications.models import OutboxMessage

#: A claimed row's place in the claim order: (next_attempt_at, id).
Position = tuple[dt.datetime, int]

#: Ends the mark's transaction without waiting for the WAL to reach the disk: a sender killed
#: afterwards loses nothing (the commit is done in the server's memory), and only a crash of
#: PostgreSQL itself within about three ``wal_writer_delay`` of it can forget the mark of a mail
#: that went out, which is then sent again — a duplicate, never a lost email (docs/deployment.md,
#: "The sender and durability"). Waiting for the disk once per mail held the sender to the
#: disk's rate of flushes. ``SET LOCAL``: this transaction only.
MARK_COMMIT = "SET LOCAL synchronous_commit TO off; COMMIT"

_TABLE = OutboxMessage._meta.db_table
_FIELDS = OutboxMessage._meta.concrete_fields
_COLUMNS = [field.get_attname_column()[1] or field.name for field in _FIELDS]
_CLAIM_SQL = (
    "SELECT {columns} FROM {table} WHERE status = %s AND next_attempt_at <= %s{after}"
    " ORDER BY next_attempt_at, id LIMIT 1{lock}"
)


@functools.cache
def _select_list(vendor: str) -> str:
    """The claim's column list, quoted by the backend (hence cached per vendor)."""
    return ", ".join(connection.ops.quote_name(column) for column in _COLUMNS)


def claim_query(moment: dt.datetime, after: Position | None, *, lock: bool) -> tuple[str, list]:
    """The claim of the next due row after ``after``: SQL and its parameters.

    The order is the outbox's index (status, next_attempt_at, id), so the first due row is
    found without a sort. A run goes on from where its last claim was: rows sent earlier in the
    run leave dead index entries in front of the due ones until VACUUM, and a claim from the
    start would step over all of them each time (a publication queues a million rows with one
    ``next_attempt_at``, so each claim would get slower with every mail sent).
    """
    params: list[Any] = [OutboxMessage.Status.PENDING.value, moment]
    where = ""
    if after is not None:
        where = " AND (next_attempt_at, id) > (%s, %s)"
        params.extend(after)
    sql = _CLAIM_SQL.format(
        columns=_select_list(connection.vendor),
        table=_TABLE,
        after=where,
        lock=" FOR UPDATE SKIP LOCKED" if lock else "",
    )
    return sql, params


class OrmClaims:
    """One ``transaction.atomic`` per message, through the ORM (SQLite; inside a transaction)."""

    def __init__(self) -> None:
        self._after: Position | None = None
        self._atomic: Any = None

    def first(self) -> OutboxMessage | None:
        """Claim the next due row (from the start once when none is left after the last one:
        rows another sender held or put back); None when nothing is due."""
        message = self._claim(self._after)
        if message is None and self._after is not None:
            message = self._claim(None)
        return message

    def _claim(self, after: Position | None) -> OutboxMessage | None:
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        lock = connection.features.has_select_for_update_skip_locked
        sql, params = claim_query(now(), after, lock=lock)
        found = next(iter(OutboxMessage.objects.raw(sql, params)), None)
        if found is None:
            self._end()
            return None
        self._after = (found.next_attempt_at, found.pk)
        return found

    def finish(
        self, message: OutboxMessage, fields: list[str], final_write: Any, *, claim_next: bool
    ) -> OutboxMessage | None:
        """Save ``fields`` of the claimed ``message`` and commit, then call ``final_write``
        (the final ``.``, or None); then claim the next row if ``claim_next``."""
        message.save(update_fields=fields)
        self._end()
        if final_write is not None:
            final_write()
        return self.first() if claim_next else None

    def release(self) -> None:
        """Roll back the open claim, if any: its row is due again at once."""
        if self._atomic is not None:
            atomic, self._atomic = self._atomic, None
            atomic.__exit__(DatabaseError, DatabaseError("claim released"), None)

    def _end(self) -> None:
        atomic, self._atomic = self._atomic, None
        atomic.__exit__(None, None, None)


class PipelinedClaims:
    """The same conversation on PostgreSQL, the mark and the next claim in one message."""

    def __init__(self) -> None:
        connection.ensure_connection()
        self._raw: Any = connection.connection
        self._pgconn: Any = self._raw.pgconn
        self._after: Position | None = None
        self._transformer = Transformer(self._raw)
        self._escaping = pq.Escaping(self._pgconn)

    @staticmethod
    def usable() -> bool:
        """PostgreSQL in autocommit, outside any ``atomic`` block (the sender's own run)."""
        return (
            connection.vendor == "postgresql"
            and connection.get_autocommit()
            and not connection.in_atomic_block
        )

    def first(self) -> OutboxMessage | None:
        message = self._exchange(self._claim_sql(self._after))
        if message is None and self._after is not None:
            message = self._exchange(self._claim_sql(None))
        return message

    def finish(
        self, message: OutboxMessage, fields: list[str], final_write: Any, *, claim_next: bool
    ) -> OutboxMessage | None:
        """Send the UPDATE of ``fields`` and its COMMIT (and the next claim) as one message,
        then at once ``final_write``, and only then read the server's answers.

        A sender killed at any moment after both writes leaves a committed row and a finished
        message: the server still executes what arrived before the connection closed. Waiting
        for the answer before the final write would leave the round trip and the wake-up of a
        busy machine in between — the window in which a kill loses the email. If the server
        refuses the UPDATE after the ``.`` left, the row stays pending and the email goes
        twice, as when the COMMIT fails.
        """
        sql = f"{self.mark_sql(message, fields)}; {MARK_COMMIT}"
        if claim_next:
            sql += f"; {self._claim_sql(self._after)}"
        following = self._exchange(sql, final_write=final_write, claimed=claim_next)
        if following is None and claim_next and self._after is not None:
            return self.first()
        return following

    def release(self) -> None:
        """Roll back the open claim, if any. An exchange interrupted between its writes and its
        answers (an exception in ``final_write``) has its answers read first: the server runs
        what it received either way."""
        pgconn = self._pgconn
        if pgconn.transaction_status == pq.TransactionStatus.ACTIVE:
            self._raw.wait(generators.fetch_many(pgconn))
        if pgconn.transaction_status != pq.TransactionStatus.IDLE:
            self._run("ROLLBACK")

    def mark_sql(self, message: OutboxMessage, fields: list[str]) -> str:
        """The UPDATE that ``message.save(update_fields=fields)`` would run, as one literal
        statement (strings quoted by libpq's ``PQescapeLiteral``)."""
        assignments = []
        for name in fields:
            field: Any = OutboxMessage._meta.get_field(name)
            value = field.get_db_prep_save(getattr(message, field.attname), connection)
            assignments.append(
                f"{connection.ops.quote_name(field.column)} = {self._literal(value)}"
            )
        return (
            f"UPDATE {_TABLE} SET {', '.join(assignments)}"  # noqa: S608 - literals escaped
            f" WHERE id = {int(message.pk)}"
        )

    def _literal(self, value: Any) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, dt.datetime):
            # isoformat() writes digits, "-", ":", ".", "+" and "T" only: safe as a literal.
            return f"'{value.isoformat()}'::timestamptz"
        return bytes(self._escaping.escape_literal(str(value).encode())).decode()

    def _claim_sql(self, after: Position | None) -> str:
        sql, params = claim_query(now(), after, lock=True)
        return "BEGIN; " + sql % tuple(self._literal(value) for value in params)

    def _exchange(
        self, sql: str, *, final_write: Any = None, claimed: bool = True
    ) -> OutboxMessage | None:
        """Send ``sql``, call ``final_write``, read every answer; the claimed row, if any."""
        results = self._run(sql, final_write=final_write)
        if not claimed:
            return None
        rows = results[-1]
        if rows.ntuples == 0:
            self._run("ROLLBACK")
            return None
        self._transformer.set_pgresult(rows)
        values = self._transformer.load_row(0, tuple)
        message = OutboxMessage.from_db(
            connection.alias, [f.attname for f in _FIELDS], [*values] if values else []
        )
        self._after = (message.next_attempt_at, message.pk)
        return message

    def _run(self, sql: str, *, final_write: Any = None) -> list[Any]:
        pgconn = self._pgconn
        pgconn.send_query(sql.encode())
        # The connection's own wait, which sleeps on the socket; the bare ``waiting.wait`` with
        # no interval polls it in a loop and kept a core busy while the server worked.
        self._raw.wait(generators.send(pgconn))
        if final_write is not None:
            final_write()
        results = self._raw.wait(generators.fetch_many(pgconn))
        failed = [r for r in results if r.status == pq.ExecStatus.FATAL_ERROR]
        if failed:
            # Whatever followed the failed statement did not run; the transaction, if one was
            # open, is aborted: roll it back so the connection is usable again.
            if pgconn.transaction_status != pq.TransactionStatus.IDLE:
                self._run("ROLLBACK")
            raise DatabaseError(failed[0].error_message.decode(errors="replace"))
        return results


def claims_for_this_run() -> OrmClaims | PipelinedClaims:
    return PipelinedClaims() if PipelinedClaims.usable() else OrmClaims()
