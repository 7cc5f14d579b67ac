"""A national issuer's month on one machine.

1,000,000 members with 10,000,000 usage lines on PostgreSQL, in a throwaway database: import
(member master, then usage), close, publish (one 請求額確定 email per member into the outbox),
then the sender's rate into a local SMTP sink measured on a sample. Each step is printed with
its rate and its ratio to a bare-database baseline measured in the same run on the same data:

* import usage        vs. bare ``COPY`` of the same CSV file into a plain table;
* close               vs. bare ``INSERT … SELECT … GROUP BY`` of the same lines per member;
* publish             vs. bare ``INSERT … SELECT`` of one outbox-sized row per member;
* sender              vs. bare ``smtplib`` sending one pre-built message over one connection.

Goal: import → close → publish queued under 3 minutes on the 2-core machine (issue 16; it was
15 minutes before).

    uv run python bench/national_month.py --members 10000          # develop at small size
    flock /tmp/meisai-heavy.lock uv run python bench/national_month.py   # full size

The web accounts the emails go to are made with one bare ``INSERT … SELECT`` (setup, not part
of the month: in real life members register over months). ``--keep`` leaves the database for
``bench/statement_page.py``.
"""

from __future__ import annotations

import argparse
import os
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sample_data import MERCHANTS  # bench/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_DB = "meisai_bench_national"
MONTH = "2025-06"
#: The month's goal, import of both files to the publication queued.
GOAL_SECONDS = 3 * 60
PAYMENTS = [("1回", "", 1)] * 8 + [("2回", "1/2", 2), ("分割", "3/10", 10)]


def generate(directory: Path, *, members: int, lines_per_member: int) -> tuple[Path, Path, Path]:
    """products.csv, members.csv (one card each) and usage.csv for ``MONTH`` (May's usage)."""
    products = directory / "products.csv"
    products.write_text(
        "product_code,name,program_excluded\nSTD,日専連カード,0\nIRIS,IRISカード,1\n",
        encoding="utf-8",
    )
    member_path = directory / "members.csv"
    with member_path.open("w", encoding="utf-8") as out:
        out.write(
            "member_no,card_no,card_expiry,product_code,name_kanji,name_kana,birth_date,"
            "postal_code,address,phone_home,phone_mobile,email,status,cancelled_on,fee_exempt,"
            "paper_required\n"
        )
        buffer = []
        for n in range(1, members + 1):
            buffer.append(
                f"N{n:08d},4980{n:012d},2029-12,{'IRIS' if n % 50 == 0 else 'STD'},"
                f"盛岡 太郎,モリオカ タロウ,1970-01-{n % 28 + 1:02d},020-0021,"
                f"岩手県盛岡市中央通{n % 9 + 1}-1-1,,090{n:08d},n{n}@example.jp,active,,0,0\n"
            )
            if len(buffer) >= 100_000:
                out.writelines(buffer)
                buffer = []
        out.writelines(buffer)
    usage_path = directory / "usage.csv"
    with usage_path.open("w", encoding="utf-8") as out:
        out.write(
            "member_no,billing_month,line_no,use_date,merchant,user,payment_type,installment,"
            "use_amount,billed_amount,note\n"
        )
        buffer = []
        for n in range(1, members + 1):
            for line_no in range(1, lines_per_member + 1):
                k = n * 31 + line_no * 7
                payment, installment, parts = PAYMENTS[k % len(PAYMENTS)]
                amount = (k % 600 + 1) * 100
                buffer.append(
                    f"N{n:08d},{MONTH},{line_no},2025-05-{k % 28 + 1:02d},"
                    f"{MERCHANTS[k % len(MERCHANTS)]},{'家族' if k % 10 == 0 else '本人'},"
                    f"{payment},{installment},{amount},{amount // parts},\n"
                )
            if len(buffer) >= 200_000:
                out.writelines(buffer)
                buffer = []
        out.writelines(buffer)
    return products, member_path, usage_path


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 22), b"")) - 1


class Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, label: str):  # noqa: ANN204 - a tiny context manager
        timer = self

        class _Span:
            def __enter__(self) -> None:
                print(f"… {label}", flush=True)
                self.started = time.perf_counter()

            def __exit__(self, *exc: object) -> None:
                timer.seconds[label] = time.perf_counter() - self.started
                print(f"  {label}: {timer.seconds[label]:.1f} s", flush=True)

        return _Span()


def accounts_insert(raw) -> None:  # noqa: ANN001 - psycopg connection
    """One active web account per member, straight in SQL (setup, not part of the month)."""
    from meisai.accounts.models import Account

    values = {
        "password": "'!'",  # an unusable password: nobody logs in to the benchmark
        "is_superuser": "false",
        "login_id": "'n' || substr(m.member_no, 2)",
        "member_id": "m.id",
        "email": "m.email",
        "personal_message": "'さくら'",
        "source": "'registration'",
        "is_active": "true",
        "is_staff": "false",
        "created_at": "now()",
    }
    columns, expressions = [], []
    for field in Account._meta.concrete_fields:
        if field.primary_key:
            continue
        if field.column in values:
            expression = values[field.column]
        elif field.null:
            expression = "NULL"
        elif field.get_internal_type() == "BooleanField":
            expression = "false"
        else:
            raise SystemExit(f"bench: no value for accounts column {field.column}")
        columns.append(field.column)
        expressions.append(expression)
    raw.execute(
        f"INSERT INTO {Account._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(expressions)} FROM members_member m"
    )


def baselines(raw, usage_path: Path, timer: Timer) -> None:  # noqa: ANN001
    """The bare-database floors, on the same data in the same database."""
    raw.execute(
        "CREATE TABLE bench_bare (member_no varchar(20), billing_month varchar(7),"
        " line_no integer, use_date date, merchant varchar(200), user_kind varchar(4),"
        " payment_type varchar(6), installment varchar(9), use_amount bigint,"
        " billed_amount bigint, note varchar(200))"
    )
    with (
        timer("baseline: bare COPY of usage.csv"),
        raw.cursor() as cursor,
        usage_path.open("rb") as handle,
        cursor.copy("COPY bench_bare FROM STDIN (FORMAT csv, HEADER true)") as copy,
    ):
        while chunk := handle.read(1 << 20):
            copy.write(chunk)
    raw.execute(
        "CREATE TABLE bench_bare_totals (member_no varchar(20), billing_month varchar(7),"
        " total bigint, lines integer)"
    )
    with timer("baseline: bare INSERT…SELECT GROUP BY"):
        raw.execute(
            "INSERT INTO bench_bare_totals SELECT member_no, billing_month, sum(billed_amount),"
            " count(*) FROM bench_bare GROUP BY member_no, billing_month"
        )
    raw.execute(
        "CREATE TABLE bench_bare_outbox (key varchar(200) UNIQUE, recipient varchar(254),"
        " subject varchar(200), body_text text, body_html text)"
    )
    with timer("baseline: bare INSERT…SELECT of outbox rows"):
        raw.execute(
            "INSERT INTO bench_bare_outbox SELECT 'statement_confirmed:' || m.member_no,"
            " m.email, '【日専連パートナーズ】2025年6月請求分のご請求額が確定しました',"
            " repeat('あ', 300), repeat('<p>あ</p>', 60) FROM members_member m"
        )
    raw.execute("DROP TABLE bench_bare, bench_bare_totals, bench_bare_outbox")


def bare_smtp(port: int, sample: int) -> float:
    """Seconds to send ``sample`` copies of one pre-built message over one connection."""
    from meisai.notifications.models import OutboxMessage
    from meisai.notifications.sender import _as_email

    message = _as_email(OutboxMessage.objects.order_by("id").first()).message()
    data = message.as_bytes(linesep="\r\n")
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        started = time.perf_counter()
        for _ in range(sample):
            smtp.sendmail("noreply@meisai.example.jp", ["n1@example.jp"], data)
        return time.perf_counter() - started


def run(options: argparse.Namespace) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {PG_DB}")
    sink_port = options.smtp_port
    os.environ.update(
        {
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{PG_DB}",
            # Publish queues the sender after commit; in the benchmark nobody listens, the
            # sender is measured on its own below.
            "MEISAI_TASKS_INLINE": "false",
            "EMAIL_URL": f"smtp://127.0.0.1:{sink_port}",
            "DJANGO_SETTINGS_MODULE": "meisai.settings",
        }
    )
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("MEISAI_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from meisai.billing_calendar import BillingMonth
    from meisai.imports.services import import_file
    from meisai.notifications.models import OutboxMessage
    from meisai.notifications.sender import outbox_send_due
    from meisai.statements.close import statement_close
    from meisai.statements.publish import statement_publish

    timer = Timer()
    month = BillingMonth.parse(MONTH)
    with tempfile.TemporaryDirectory(prefix="meisai-national-") as tmp:
        with timer("generate files"):
            products, member_path, usage_path = generate(
                Path(tmp), members=options.members, lines_per_member=options.lines
            )
        usage_rows = count_lines(usage_path)
        call_command("migrate", verbosity=0)
        connection.ensure_connection()
        raw = connection.connection
        raw.autocommit = True

        import_file(kind="products", path=products, actor="bench", progress=False)
        with timer("import members"):
            import_file(kind="members", path=member_path, actor="bench", progress=True)
        with timer("setup: web accounts (bare SQL)"):
            accounts_insert(raw)
        with timer("import usage"):
            outcome = import_file(kind="usage", path=usage_path, actor="bench", progress=True)
        assert outcome.counts.inserted == usage_rows, outcome.counts
        baselines(raw, usage_path, timer)
    raw.execute("VACUUM ANALYZE")

    with timer("close"):
        closed = statement_close(month=month, actor="bench")
    with timer("publish"):
        published = statement_publish(month=month, actor="bench")
    queued = OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING).count()

    sink = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "smtp_sink.py"), "--port", str(sink_port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None
    sink.stdout.readline()  # "listening"
    try:
        sample = min(options.sample, queued)
        with timer("sender sample"):
            sent = outbox_send_due(limit=sample)
        assert sent.sent == sample, sent
        bare_seconds = bare_smtp(sink_port, sample)
    finally:
        sink.terminate()
        sink_report = sink.communicate(timeout=30)[0].strip()

    s = timer.seconds
    month_seconds = s["import members"] + s["import usage"] + s["close"] + s["publish"]
    copy_rate = usage_rows / s["baseline: bare COPY of usage.csv"]
    usage_rate = usage_rows / s["import usage"]
    print()
    print(
        f"National month on PostgreSQL: {options.members:,} members, {usage_rows:,} usage lines"
        f" ({options.lines} a member), billing month {MONTH}"
    )
    print(
        f"  import members      {s['import members']:8.1f} s  "
        f"{options.members / s['import members']:>10,.0f} members/s"
    )
    print(
        f"  import usage        {s['import usage']:8.1f} s  {usage_rate:>10,.0f} rows/s"
        f"   bare COPY {s['baseline: bare COPY of usage.csv']:.1f} s ({copy_rate:,.0f} rows/s)"
        f"   ratio {usage_rate / copy_rate:.2f}"
    )
    group_s = s["baseline: bare INSERT…SELECT GROUP BY"]
    print(
        f"  close               {s['close']:8.1f} s  {closed.statements:>10,} statements"
        f"   bare INSERT…SELECT GROUP BY {group_s:.1f} s   ratio {group_s / s['close']:.2f}"
        f"   ({s['close'] / group_s:.1f}× the bare time)"
    )
    outbox_s = s["baseline: bare INSERT…SELECT of outbox rows"]
    print(
        f"  publish             {s['publish']:8.1f} s  {published.emails_queued:>10,} emails queued"
        f"   bare INSERT…SELECT {outbox_s:.1f} s   ratio {outbox_s / s['publish']:.2f}"
        f"   ({s['publish'] / outbox_s:.1f}× the bare time)"
    )
    send_rate = sample / s["sender sample"]
    bare_rate = sample / bare_seconds
    print(
        f"  sender (sample)     {s['sender sample']:8.1f} s  {send_rate:>10,.0f} mails/s"
        f"   bare smtplib {bare_seconds:.1f} s ({bare_rate:,.0f}/s)   ratio {send_rate / bare_rate:.2f}"
        f"   → {queued:,} mails in about {queued / send_rate / 60:.0f} min on one sender"
    )
    print(f"  sink: {sink_report}")
    verdict = "met" if month_seconds < GOAL_SECONDS else "NOT met"
    print(
        f"  month (import members + usage → close → publish queued): {month_seconds:.1f} s"
        f" = {month_seconds / 60:.1f} min — goal under {GOAL_SECONDS / 60:g} min {verdict}"
    )
    print(
        f"  (setup not in the month: files {s['generate files']:.1f} s,"
        f" accounts {s['setup: web accounts (bare SQL)']:.1f} s)"
    )
    if not options.keep:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
    else:
        print(f"  database kept: postgres://postgres@127.0.0.1:5432/{PG_DB}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--lines", type=int, default=10, help="usage lines per member")
    parser.add_argument("--sample", type=int, default=20_000, help="mails the sender sends")
    parser.add_argument("--smtp-port", type=int, default=2526)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
