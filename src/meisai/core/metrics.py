"""What operators watch on the peak day, as Prometheus metrics (docs/deployment.md, "Metrics").

Every figure is counted in one place: requests by ``metrics_middleware``, logins, throttles and
lockouts where every security event passes (``audit.security_events``), job durations and
failures in ``core.jobs.job_run``, sent mail in the outbox sender. The outbox depth is not
counted at all: it is a query run when Prometheus scrapes (``OutboxDepthCollector``).

Web nodes run several gunicorn processes and workers several Celery children, and a scrape
reaches only one process. So ``meisai serve`` and ``meisai worker`` run in prometheus-client's
multiprocess mode (``metrics_processes``): each process writes its values to its own small
memory-mapped file in a directory private to that server, and the process that answers the
scrape adds them all up, those of recycled processes included, so counters never go backwards.
Outside those commands (tests, the embedded default, one-off commands) the values live in this
process's memory.

Labels have a bounded number of values: a route is the URL pattern's name, never the path (which
holds months, tokens and member numbers); a job is its kind; a throttle its scope.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator
from typing import Any

from django.db import DatabaseError, connection, transaction
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

#: meisai's own metrics (not the client's default registry, which adds process figures that a
#: multiprocess scrape cannot give).
METRICS = CollectorRegistry(auto_describe=True)

#: The member pages' goal is a p99 under 250 ms at the peak (bench/statement_page.py): buckets
#: are close together around it and sparse in the long tail up to gunicorn's 30-second timeout.
REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Jobs run from a second (a small send) to the better part of an hour (a national sender run).
JOB_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0)

REQUEST_DURATION = Histogram(
    "meisai_http_request_duration_seconds",
    "Time to answer an HTTP request, by URL route name, method and status class.",
    ["route", "method", "status"],
    buckets=REQUEST_BUCKETS,
    registry=METRICS,
)
LOGINS = Counter(
    "meisai_logins",
    "Login attempts by result (success, failed, locked, code_failed) and site "
    "(member, backoffice).",
    ["result", "site"],
    registry=METRICS,
)
THROTTLED = Counter(
    "meisai_throttled",
    "Requests refused by a throttle, by throttle scope.",
    ["throttle"],
    registry=METRICS,
)
LOCKOUTS = Counter(
    "meisai_lockouts",
    "Lockouts begun: a login ID after ten failures (login), a card in registration (registration).",
    ["lock"],
    registry=METRICS,
)
MAIL_SENT = Counter("meisai_mail_sent", "Emails the relay accepted.", registry=METRICS)
JOB_DURATION = Histogram(
    "meisai_job_duration_seconds",
    "Time a background job ran, done or failed, by kind.",
    ["kind"],
    buckets=JOB_BUCKETS,
    registry=METRICS,
)
JOB_FAILURES = Counter(
    "meisai_job_failures", "Background jobs that ended failed, by kind.", ["kind"], registry=METRICS
)

_METHODS = frozenset({"GET", "HEAD", "POST"})


#: (route, method, status class) → the histogram's child: ``labels()`` takes a lock and builds
#: its key on every call, a cost paid per request; the routes are a few hundred at most.
_request_children: dict[tuple[str, str, int], Any] = {}


def request_observe(*, route: str, method: str, status: int, seconds: float) -> None:
    # A client chooses the method: anything unusual is "other", in the label and the key.
    key = (route, method if method in _METHODS else "other", status // 100)
    child = _request_children.get(key)
    if child is None:
        child = REQUEST_DURATION.labels(key[0], key[1], f"{key[2]}xx")
        _request_children[key] = child
    child.observe(seconds)


def security_event_count(kind: str, detail: dict[str, Any]) -> None:
    """Count the security event ``kind`` (audit.security_events calls this for every event)."""
    site = "backoffice" if detail.get("console") else "member"
    if kind == "login":
        LOGINS.labels("success", site).inc()
    elif kind == "login_failed":
        # A failure on an ID that is locked (the tenth, or any try during the lock).
        LOGINS.labels("locked" if detail.get("locked") else "failed", site).inc()
    elif kind == "login_code_failed":
        LOGINS.labels("code_failed", site).inc()
    elif kind == "throttled":
        THROTTLED.labels(str(detail.get("scope", "unknown"))).inc()
    elif kind == "account_locked":
        LOCKOUTS.labels("login").inc()
    elif kind == "registration_locked":
        LOCKOUTS.labels("registration").inc()


def job_observe(*, kind: str, seconds: float, failed: bool) -> None:
    JOB_DURATION.labels(kind).observe(seconds)
    if failed:
        JOB_FAILURES.labels(kind).inc()


def mail_sent_count(count: int = 1) -> None:
    MAIL_SENT.inc(count)


# --- the outbox depth, asked at scrape time --------------------------------------------------

#: Count pending mail exactly up to this many rows; beyond, ask PostgreSQL's planner. The
#: exact count walks the (status, next_attempt_at) index, and right after a publication (rows
#: not yet vacuumed) every entry costs a heap visit: measured on a million fresh rows of the
#: 2-core machine under load, 0.28 s to count 10,000 and 0.6-0.7 s to count 100,000, paid by
#: every scrape of every target.
DEPTH_EXACT_UP_TO = 10_000
#: A scrape never waits on the database longer than this (PostgreSQL).
DEPTH_TIMEOUT_MS = 2000


def outbox_depth() -> int:
    """Emails waiting to be sent (pending, due now or deferred after a refusal): exact up to
    ``DEPTH_EXACT_UP_TO``, PostgreSQL's estimate above (never less than the exact bound)."""
    from meisai.notifications.models import OutboxMessage

    table = OutboxMessage._meta.db_table
    pending = OutboxMessage.Status.PENDING
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE status = %s", [pending])  # noqa: S608
            return int(cursor.fetchone()[0])
    with transaction.atomic(), connection.cursor() as cursor:
        # For this transaction only: a busy database makes the scrape miss the gauge, not hang.
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(DEPTH_TIMEOUT_MS)])
        cursor.execute(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE status = %s LIMIT %s) AS p",  # noqa: S608
            [pending, DEPTH_EXACT_UP_TO + 1],
        )
        exact = int(cursor.fetchone()[0])
        if exact <= DEPTH_EXACT_UP_TO:
            return exact
        cursor.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {table} WHERE status = %s", [pending])  # noqa: S608
        plan = cursor.fetchone()[0]
        plan = plan[0] if isinstance(plan, list) else plan
        return max(int(plan["Plan"]["Plan Rows"]), exact)


class OutboxDepthCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            depth = outbox_depth()
        except DatabaseError as error:
            # The scrape still answers with everything else; the missing gauge is the signal.
            logger.warning("metrics: outbox depth not available: %s", error)
            return
        yield GaugeMetricFamily(
            "meisai_outbox_depth", "Emails waiting in the outbox (pending).", value=depth
        )


# --- the exposition --------------------------------------------------------------------------


def multiprocess_directory() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition() -> bytes:
    """Every metric in Prometheus's text format: all processes' values added up in multiprocess
    mode, this process's otherwise, and the outbox depth asked now."""
    registry = CollectorRegistry()
    directory = multiprocess_directory()
    if directory:
        MultiProcessCollector(registry, path=directory)
    else:
        registry.register(METRICS)  # type: ignore[arg-type]  # a registry collects like a collector
    registry.register(OutboxDepthCollector())
    return generate_latest(registry)


def bearer_token_matches(authorization: str, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (compared in constant time, so the
    answer's timing tells nothing about how much of a guess was right)."""
    scheme, _, offered = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(offered.strip().encode(), token.encode())
