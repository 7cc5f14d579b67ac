"""Publication and the sender against their bare floors, measured in the same run.

A throwaway PostgreSQL database (``meisai_hg_bench``; another with ``--database``) gets
``--members`` members, each with a card, one usage line, an active web account and an address,
filled by set-based SQL and closed with ``statement_close`` (setup, not timed). Then:

a. ``statement_publish`` — the statements become visible and one 請求額確定 email per member is
   queued — against a bare ``INSERT … SELECT`` of the very rows it queued into an empty table
   ``LIKE notifications_outboxmessage INCLUDING ALL`` (the outbox's columns, key and index), and
   into a plain table of its columns (no index);
b. the sender (``outbox_send_due``: claim, compose, SMTP over one reused connection, mark sent)
   sending ``--sample`` of the queued mails into ``smtp_sink.py`` (its minimal asyncio server,
   so that the ratio measures the clients, not the sink) in its own process, against a
   bare ``smtplib`` loop sending the same messages (built before the clock starts) to the same
   sink over one connection; and the sink's own ceiling: two such bare loops at once;
c. two sender processes at once on the queued mail, ``--sample`` each: their combined rate and
   the projected minutes for 1,000,000 mails.

Goals: publish ≤ 4× its bare ``INSERT … SELECT``; the sender ≥ 0.5× bare smtplib; two senders
send 1,000,000 mails in under 30 minutes.

    uv run python bench/publish_send.py --members 20000 --sample 5000      # develop
    flock /tmp/meisai-heavy.lock uv run python bench/publish_send.py       # 1,000,000 members
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
FROM = "noreply@meisai.example.jp"

FILL_SQL = [
    (
        "members",
        """INSERT INTO members_member (member_no, name_kanji, name_kana, birth_date, postal_code,
               address, email, status, cancelled_on, fee_exempt, paper_required, program_excluded,
               created_at, updated_at)
           SELECT 'P' || lpad(i::text, 9, '0'), '盛岡 太郎' || i, 'モリオカ タロウ',
                  date '1950-01-01' + (i %% 20000), '020-0021', '岩手県盛岡市中央通' || (i %% 100),
                  'p' || i || '@example.jp', 'active', NULL, false, false, false, now(), now()
           FROM generate_series(1, %(members)s) AS i""",
    ),
    (
        "cards",
        """INSERT INTO members_card (member_id, product_id, number_hash, last4, expiry, is_active,
               created_at, updated_at)
           SELECT m.id, %(product)s, md5(m.member_no) || md5(m.member_no || 'x'),
                  right(m.member_no, 4), '2029-12', true, now(), now()
           FROM members_member m""",
    ),
    (
        "web accounts",
        """INSERT INTO accounts_account (password, last_login, is_superuser, login_id, member_id,
               email, personal_message, source, is_active, is_staff, created_at, deactivated_at,
               lockout_notified_at)
           SELECT '!', NULL, false, lower(m.member_no), m.id, '', 'さくら',
                  'registration', true, false, now(), NULL, NULL
           FROM members_member m""",
    ),
    (
        "usage lines",
        """INSERT INTO statements_usageline (member_id, card_id, billing_month, line_no, use_date,
               merchant, user_kind, payment_type, installment, use_amount, billed_amount, note,
               batch_id)
           SELECT c.member_id, c.id, %(month)s, 1, %(first_use)s, '盛岡百貨店', '本人', '1回', '',
                  1000 + c.id %% 9000, 1000 + c.id %% 9000, '', NULL
           FROM members_card c""",
    ),
]


def step(label: str, work) -> float:  # noqa: ANN001 - a callable
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    print(f"  {label:44} {seconds:8.2f} s", flush=True)
    return seconds


def setup_django(database: str, smtp_port: int) -> None:
    os.environ.update(
        {
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
            # Publication kicks the sender after commit; here the sender is measured on its own.
            "MEISAI_TASKS_INLINE": "false",
            "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
            "DJANGO_SETTINGS_MODULE": "meisai.settings",
        }
    )
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("MEISAI_LOG_LEVEL", "WARNING")
    import django

    django.setup()


def fill(members: int):  # noqa: ANN201 - the billing month
    from django.core.management import call_command
    from django.db import connection

    from meisai import billing_calendar
    from meisai.members.models import Product
    from meisai.statements.close import statement_close

    call_command("migrate", verbosity=0)
    Product.objects.create(code="STD", name="日専連カード")
    month = billing_calendar.latest_billing_month()
    first_use, _ = billing_calendar.usage_period(month)
    params = {
        "members": members,
        "product": Product.objects.get(code="STD").pk,
        "month": str(month),
        "first_use": first_use,
    }
    print(f"setup (not timed in any ratio): {members:,} members", flush=True)
    for label, sql in FILL_SQL:
        step(label, lambda sql=sql: connection.cursor().execute(sql, params))
    step("VACUUM ANALYZE", lambda: connection.cursor().execute("VACUUM ANALYZE"))
    step("statement_close", lambda: statement_close(month=month, actor="bench"))
    step("VACUUM ANALYZE", lambda: connection.cursor().execute("VACUUM ANALYZE"))
    return month


def measure_publish(month) -> dict[str, float]:  # noqa: ANN001 - a BillingMonth
    from django.db import connection

    from meisai.notifications.models import OutboxMessage
    from meisai.statements.publish import statement_publish

    table = OutboxMessage._meta.db_table
    columns = ", ".join(
        f'"{f.column}"' for f in OutboxMessage._meta.concrete_fields if not f.primary_key
    )
    print("publication", flush=True)
    result: dict[str, float] = {}
    queued = 0

    from meisai.statements import publish as publish_module

    queueing = publish_module.email_enqueue_query

    def timed_queueing(**kwargs):  # noqa: ANN003, ANN202 - the queueing part of publication
        started = time.perf_counter()
        try:
            return queueing(**kwargs)
        finally:
            result["queue"] = time.perf_counter() - started

    def publish() -> None:
        nonlocal queued
        queued = statement_publish(month=month, actor="bench").emails_queued

    publish_module.email_enqueue_query = timed_queueing
    result["publish"] = step("statement_publish", publish)
    publish_module.email_enqueue_query = queueing
    print(f"  {'  of which queueing the emails':44} {result['queue']:8.2f} s", flush=True)
    result["queued"] = queued
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE bench_outbox_shape (LIKE {table} INCLUDING ALL)")
        cursor.execute(
            f"CREATE TABLE bench_outbox_plain AS SELECT {columns} FROM {table} WITH NO DATA"  # noqa: S608
        )
        cursor.execute("CHECKPOINT")
        result["bare_shape"] = step(
            "bare INSERT…SELECT, the outbox's shape",
            lambda: cursor.execute(
                f"INSERT INTO bench_outbox_shape ({columns}) SELECT {columns} FROM {table}"  # noqa: S608
            ),
        )
        result["bare_plain"] = step(
            "bare INSERT…SELECT, plain table",
            lambda: cursor.execute(
                f"INSERT INTO bench_outbox_plain ({columns}) SELECT {columns} FROM {table}"  # noqa: S608
            ),
        )
        cursor.execute("DROP TABLE bench_outbox_shape, bench_outbox_plain")
        cursor.execute("VACUUM ANALYZE")
    return result


def prebuilt_messages(count: int) -> list[tuple[str, bytes]]:
    """The next ``count`` due messages as the sender would send them, built in advance."""
    from meisai.notifications.models import OutboxMessage
    from meisai.notifications.sender import message_bytes

    rows = OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING).order_by("id")
    return [(m.to, message_bytes(m)) for m in rows[:count]]


def bare_smtp(port: int, messages: list[tuple[str, bytes]]) -> float:
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        started = time.perf_counter()
        for to, data in messages:
            smtp.sendmail(FROM, [to], data)
        return time.perf_counter() - started


def start_sink(port: int) -> subprocess.Popen[str]:
    sink = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "smtp_sink.py"), "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None
    sink.stdout.readline()  # "listening"
    return sink


def child(options: argparse.Namespace, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--database",
            options.database,
            "--smtp-port",
            str(options.smtp_port),
            *args,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def joined(children: list[subprocess.Popen[str]]) -> tuple[int, float]:
    """Total count and wall seconds (first start to last end) reported by child processes."""
    reports = []
    for process in children:
        out, _ = process.communicate()
        if process.returncode:
            raise SystemExit(f"bench: a child process failed ({process.returncode})")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return (
        sum(r["count"] for r in reports),
        max(r["end"] for r in reports) - min(r["start"] for r in reports),
    )


def measure_send(options: argparse.Namespace) -> dict[str, float]:
    from meisai.notifications.sender import outbox_send_due

    sample = options.sample
    print(f"sender, {sample:,} mails", flush=True)
    result: dict[str, float] = {}
    messages = prebuilt_messages(sample)
    # Warm the sink and both clients' paths once.
    bare_smtp(options.smtp_port, messages[:200])
    result["bare"] = step(
        "bare smtplib, one connection", lambda: bare_smtp(options.smtp_port, messages)
    )
    count, seconds = joined([child(options, "--bare-worker", str(sample)) for _ in range(2)])
    result["sink_ceiling"] = count / seconds
    print(f"  {'sink ceiling: two bare smtplib loops at once':44} {seconds:8.2f} s", flush=True)
    sent = 0

    def send() -> None:
        nonlocal sent
        sent = outbox_send_due(limit=sample).sent

    result["sender"] = step("outbox_send_due, one process", send)
    assert sent == sample, sent
    count, seconds = joined([child(options, "--send-worker", str(sample)) for _ in range(2)])
    assert count == 2 * sample, count
    result["two_senders"] = count / seconds
    print(f"  {'two sender processes at once':44} {seconds:8.2f} s", flush=True)
    return result


def worker(options: argparse.Namespace) -> None:
    """A child process: send (or bare-send) its share and print what it did as JSON."""
    setup_django(options.database, options.smtp_port)
    if options.send_worker:
        from meisai.notifications.sender import outbox_send_due

        start = time.time()
        count = outbox_send_due(limit=options.send_worker).sent
    else:
        messages = prebuilt_messages(options.bare_worker)
        start = time.time()
        bare_smtp(options.smtp_port, messages)
        count = len(messages)
    print(json.dumps({"count": count, "start": start, "end": time.time()}), flush=True)


def run(options: argparse.Namespace) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{options.database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{options.database}"')
    setup_django(options.database, options.smtp_port)
    sink = None
    try:
        month = fill(options.members)
        publish = measure_publish(month)
        sink = start_sink(options.smtp_port)
        send = measure_send(options)
    finally:
        if sink is not None:
            sink.terminate()
            sink.communicate(timeout=30)
        from django.db import connections

        connections.close_all()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{options.database}" WITH (FORCE)')

    sample = options.sample
    print()
    print(f"Publication of {int(publish['queued']):,} 請求額確定 emails (PostgreSQL)")
    for label, key in (("the outbox's shape", "bare_shape"), ("a plain table", "bare_plain")):
        print(
            f"  publish {publish['publish']:6.2f} s / bare INSERT…SELECT into {label}"
            f" {publish[key]:6.2f} s = {publish['publish'] / publish[key]:5.2f}×"
        )
    print(
        f"  queueing alone {publish['queue']:6.2f} s / bare into the outbox's shape"
        f" {publish['bare_shape']:6.2f} s = {publish['queue'] / publish['bare_shape']:5.2f}×"
    )
    ratio = publish["publish"] / publish["bare_shape"]
    print(f"  HEADLINE publish / bare into the outbox's shape: {ratio:.2f}× (goal ≤ 4×)")
    bare_rate = sample / send["bare"]
    sender_rate = sample / send["sender"]
    print(f"Sender, {sample:,} mails into smtp_sink.py (its own process)")
    print(f"  sink ceiling (two bare loops at once)  {send['sink_ceiling']:8,.0f} mails/s")
    print(f"  bare smtplib, one connection           {bare_rate:8,.0f} mails/s")
    print(f"  outbox_send_due, one process           {sender_rate:8,.0f} mails/s")
    print(f"  HEADLINE sender / bare smtplib: {sender_rate / bare_rate:.2f} (goal ≥ 0.5)")
    minutes = 1_000_000 / send["two_senders"] / 60
    print(
        f"  two sender processes at once           {send['two_senders']:8,.0f} mails/s"
        f" → 1,000,000 mails in {minutes:.1f} min (goal under 30)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=50_000, help="mails each sender sends")
    parser.add_argument("--database", default="meisai_hg_bench")
    parser.add_argument("--smtp-port", type=int, default=2531)
    parser.add_argument("--send-worker", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--bare-worker", type=int, default=0, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.send_worker or options.bare_worker:
        worker(options)
    else:
        run(options)


if __name__ == "__main__":
    main()
