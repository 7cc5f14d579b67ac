"""Benchmark of the CSV download: rows/s for a 13-month export of a heavy member.

Builds a throwaway database (SQLite in a temporary directory by default, or ``--database-url``
for a PostgreSQL one you name) with one member who has a published statement in each of the
13 visible billing months, ``--lines`` lines each, with merchant names that exercise the cp932
mapping (髙, ㈱, ¥, —, é, 𠮷) and formula neutralisation. Then downloads
``/statements/all.csv`` through Django's test client (the real view, selectors, neutralisation,
encoding and streaming), ``--repeat`` times for each encoding, and prints rows/s and MB/s.

    flock /tmp/meisai-heavy.lock uv run python bench/csv_export.py            # the reference run
    uv run python bench/csv_export.py --lines 50 --repeat 2                   # while developing
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import subprocess
import sys
import tempfile
import time


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1000, help="lines per monthly statement")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    return parser.parse_args()


MERCHANTS = [
    "盛岡百貨店",
    "髙橋商店㈱",
    "カフェ ¥100セール — café",
    "=コンビニ(数式に見える店名)",
    "𠮷野家 盛岡店",
    'ブック "さわや", 本店',
    "ＪＲ東日本　えきねっと",
]


def fill(lines: int) -> tuple[object, int]:
    from meisai import billing_calendar
    from meisai.accounts.models import Account
    from meisai.clock import JST
    from meisai.members.models import Card, Member, Product
    from meisai.statements.models import Statement, UsageLine

    product = Product.objects.create(code="STD", name="日専連カード")
    member = Member.objects.create(
        member_no="H0000001",
        name_kanji="盛岡 太郎",
        name_kana="モリオカ タロウ",
        birth_date=dt.date(1960, 4, 1),
    )
    card = Card.objects.create(
        member=member, product=product, number_hash="h" * 64, last4="1234", expiry="2029-12"
    )
    account = Account.objects.create_user("heavy01", "bench-password-1", member=member)
    months = billing_calendar.visible_months(billing_calendar.latest_billing_month())
    rows = 0
    for month in months:
        first_use, _ = billing_calendar.usage_period(month)
        amounts = [(n * 1371) % 20000 - 500 for n in range(lines)]
        # The month's usage lines as the import stores them; the statement reads them back.
        UsageLine.objects.bulk_create(
            UsageLine(
                member=member,
                billing_month=str(month),
                line_no=n + 1,
                card=card,
                use_date=first_use + dt.timedelta(days=n % 28),
                merchant=MERCHANTS[n % len(MERCHANTS)],
                user_kind="本人" if n % 4 else "家族",
                payment_type="1回" if n % 7 else "分割",
                installment="" if n % 7 else "2/10",
                use_amount=amount,
                billed_amount=amount,
            )
            for n, amount in enumerate(amounts)
        )
        Statement.objects.create(
            member=member,
            billing_month=str(month),
            delivery="web",
            usage_total=sum(amounts),
            total=sum(amounts),
            line_count=lines,
            debit_date=billing_calendar.debit_date(month),
            confirmed_at=dt.datetime.combine(month.day(10), dt.time(3), tzinfo=JST),
            published_at=dt.datetime.combine(month.day(14), dt.time(9), tzinfo=JST),
        )
        rows += lines
    return account, rows


def main() -> None:
    args = parse_args()
    workdir = tempfile.mkdtemp(prefix="meisai-bench-csv-")
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{workdir}/bench.sqlite3"
    os.environ["DJANGO_SETTINGS_MODULE"] = "meisai.settings"
    os.environ["MEISAI_LOG_LEVEL"] = "ERROR"
    os.environ.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "-m", "django", "migrate", "-v0"], check=True)
    import django

    django.setup()
    # Each unmappable character is logged; the benchmark measures the export, not the log.
    logging.getLogger("meisai.statements.csv_export").setLevel(logging.ERROR)
    from django.test import Client

    account, rows = fill(args.lines)
    client = Client()
    client.force_login(account)
    print(
        f"CSV benchmark: 13 months × {args.lines:,} lines = {rows:,} rows, /statements/all.csv",
        flush=True,
    )
    # One untimed download first: template, codec and URL resolver warm-up.
    b"".join(client.get("/statements/all.csv").streaming_content)
    for encoding, query in (("cp932", ""), ("UTF-8 (BOM)", "?encoding=utf-8")):
        times = []
        size = 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            response = client.get(f"/statements/all.csv{query}")
            size = sum(len(chunk) for chunk in response.streaming_content)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
        best = min(times)
        median = sorted(times)[len(times) // 2]
        print(
            f"  {encoding:12} median {median * 1000:7.1f} ms, {rows / median:10,.0f} rows/s "
            f"(best {rows / best:,.0f}), {size / median / 1e6:5.1f} MB/s, {size:,} bytes",
            flush=True,
        )


if __name__ == "__main__":
    main()
