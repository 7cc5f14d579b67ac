"""Django's PostgreSQL backend with a connection health check that costs no round trip.

With ``CONN_HEALTH_CHECKS`` Django checks a kept connection before a request first uses it, by
sending ``SELECT 1`` and waiting for the answer. On the 13th that is one more round trip to the
database for nearly every page (the login, the top page, a first view, the PDF, the logout),
each time for a connection that is almost always fine.

What the check exists to catch is a connection the server has ended: PostgreSQL restarted or
failed over, the backend was terminated, an idle timeout ran out. In each case the server
sends its last message (a FATAL error) and closes the socket, so the socket turns readable.
An idle connection in good health has nothing to read. So the check first asks the kernel,
without waiting, whether the socket has anything to read: nothing, and the connection is idle
with libpq reporting it good, means usable. Anything else (a message, the end of the stream,
a connection inside a transaction) goes to Django's own ``SELECT 1``, which consumes what
there is or fails, and a failed check makes Django open a new connection as before.

A path that died without the server's close reaching us (a cable pulled) is not seen by
either check in time: ``SELECT 1`` would wait for TCP's own timeout, as the request's first
query now does.
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        if self.connection is not None and _idle_and_silent(self.connection):
            return True
        return super().is_usable()


def _idle_and_silent(connection: psycopg.Connection[Any]) -> bool:
    """Whether the connection is open, idle, and the server has sent nothing since its last
    answer (no message, no end of the stream)."""
    if connection.closed or connection.broken:
        return False
    pgconn = connection.pgconn
    if pgconn.status != pq.ConnStatus.OK:
        return False
    if pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN)
    # Returns at once; POLLHUP and POLLERR are reported whether asked for or not.
    return not poller.poll(0)
