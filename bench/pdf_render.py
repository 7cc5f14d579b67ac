"""Benchmark of the statement PDF: ms per 30-line statement, statements/s on 2 processes.

Renders statements with the production code (``meisai.statements.pdf.statement_pdf``: ReportLab
canvas, IPAexGothic embedded as a subset, deterministic bytes) from statements built in memory,
so the figure is the rendering alone, without the database:

1. one process: ``--single`` statements one after another → median and p95 ms per statement;
2. ``--processes`` processes: ``--statements`` statements in all → statements/s.

Each statement differs (merchants, amounts, days), as on the 13th. Goal: median ≤ 20 ms and
≥ 80 statements/s on 2 processes.

    flock /tmp/meisai-heavy.lock uv run python bench/pdf_render.py            # the reference run
    uv run python bench/pdf_render.py --statements 500 --single 50            # while developing
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import statistics
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meisai.settings")

MERCHANTS = [
    "盛岡百貨店",
    "コンビニエンスストア盛岡駅前店",
    "ガソリンスタンド北上",
    "髙橋商店㈱",
    "家電のサトウ 本店",
    "ドラッグストア花巻",
    "書店さわや",
    "JR東日本 えきねっと",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--statements", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--single", type=int, default=300, help="statements timed one by one")
    parser.add_argument("--lines", type=int, default=30)
    return parser.parse_args()


def _setup() -> None:
    import django

    django.setup()


def build_view(index: int, lines: int):  # noqa: ANN201 - a StatementView, imported lazily
    from meisai.billing_calendar import BillingMonth
    from meisai.members.models import Card, Member
    from meisai.statements.models import Statement, UsageLine
    from meisai.statements.selectors import FeeLine, LineGroup, StatementView

    member = Member(name_kanji=f"盛岡 太郎{index % 97}", member_no=f"B{index:07d}")
    cards = [
        Card(pk=1, last4=f"{index % 10000:04d}"),
        Card(pk=2, last4=f"{(index * 7) % 10000:04d}"),
    ]
    amounts = [(index * 31 + n * 1371) % 20000 + 100 for n in range(lines)]
    statement = Statement(
        member=member,
        billing_month="2025-04",
        usage_total=sum(amounts),
        fee_total=165,
        total=sum(amounts) + 165,
        line_count=lines + 1,
        points_granted=1000 if index % 3 == 0 else 0,
        debit_date=dt.date(2025, 4, 28),
    )
    line_rows = [
        UsageLine(
            member=member,
            billing_month=statement.billing_month,
            line_no=n + 1,
            card=cards[n % 2],
            use_date=dt.date(2025, 3, (index + n) % 28 + 1),
            merchant=f"{MERCHANTS[(index + n) % len(MERCHANTS)]} {n + 1}",
            user_kind="本人" if n % 4 else "家族",
            payment_type="1回" if n % 7 else "分割",
            installment="" if n % 7 else "2/10",
            use_amount=amount,
            billed_amount=amount,
        )
        for n, amount in enumerate(amounts)
    ]
    groups = [
        LineGroup(
            card=card,
            user_kind=user,
            lines=[line for line in line_rows if line.card is card and line.user_kind == user],
        )
        for card in cards
        for user in ("本人", "家族")
    ]
    # The paper fee is the statement's fee_total, as selectors.statement_lines() synthesizes it.
    fee = FeeLine(amount=statement.fee_total, line_no=statement.line_count)
    return StatementView(
        statement=statement,
        month=BillingMonth(2025, 4),
        groups=[g for g in groups if g.lines],
        fee_lines=[fee],
    )


def render_range(job: tuple[int, int, int]) -> int:
    start, stop, lines = job
    _setup()
    from meisai.statements.pdf import statement_pdf

    size = 0
    for index in range(start, stop):
        size += len(statement_pdf(view=build_view(index, lines), issuer="日専連パートナーズ"))
    return size


def main() -> None:
    args = parse_args()
    _setup()
    from meisai.statements.pdf import statement_pdf

    print(
        f"PDF benchmark: {args.lines}-line statements, ReportLab + IPAexGothic subset", flush=True
    )
    first = build_view(0, args.lines)
    started = time.perf_counter()
    pdf = statement_pdf(view=first, issuer="日専連パートナーズ")
    print(
        f"  first statement (loads the font): {(time.perf_counter() - started) * 1000:.1f} ms, "
        f"{len(pdf):,} bytes",
        flush=True,
    )
    assert pdf == statement_pdf(view=first, issuer="日専連パートナーズ"), "not deterministic"

    views = [build_view(index, args.lines) for index in range(1, args.single + 1)]
    times = []
    for view in views:
        started = time.perf_counter()
        statement_pdf(view=view, issuer="日専連パートナーズ")
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    median = statistics.median(times)
    p95 = times[int(len(times) * 0.95) - 1]
    print(
        f"  one process, {args.single} statements: median {median:.1f} ms, p95 {p95:.1f} ms "
        f"(goal median ≤ 20 ms)",
        flush=True,
    )

    chunk = -(-args.statements // args.processes)
    jobs = [
        (n, min(n + chunk, args.statements), args.lines) for n in range(0, args.statements, chunk)
    ]
    context = multiprocessing.get_context("fork")
    started = time.perf_counter()
    with context.Pool(args.processes) as pool:
        total_bytes = sum(pool.map(render_range, jobs))
    elapsed = time.perf_counter() - started
    rate = args.statements / elapsed
    print(
        f"  {args.processes} processes, {args.statements:,} statements: {elapsed:.1f} s, "
        f"{rate:.1f} statements/s, {total_bytes / args.statements / 1024:.1f} KiB each "
        f"(goal ≥ 80/s)",
        flush=True,
    )
    ok = median <= 20 and rate >= 80
    print(f"  {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
