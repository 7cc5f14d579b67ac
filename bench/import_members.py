"""Benchmark of ``meisai import members`` against a bare COPY of the same file.

Generates a member master of ``--members`` members (default 1,000,000): one card each, every
tenth member a second card, most with a mobile phone, a third with a home phone, the debit
account columns, some cancelled members and IRIS cards. Then, in a throwaway PostgreSQL
database (``--database``, created and dropped by the run):

1. ``import_file(kind="members")`` of that file — reading, decoding, every check, the card
   hash, members, cards and phones, the audit row, the commit — timed (the headline);
2. a second file of the same members with changes (the history of a member master: addresses
   moved, phones dropped and added, cards replaced, members cancelled, new members), timed;
3. in the same run on the same server, bare loads of the same file, each into empty tables:
   the CSV file by server-side ``COPY … (FORMAT csv)`` into a plain table of the file's shape,
   and the headline baseline — the file's rows already split into member, card and phone rows
   (before the clock starts) by text COPY into empty tables created ``LIKE members_member
   INCLUDING ALL`` (and ``members_card``, ``members_phone``): the columns, checks and indexes
   of the tables the importer fills, commit included.

It prints members/s of each, meisai's ratio to each baseline, then (``--sqlite-scale``,
default 0.1) the same two imports on SQLite at a tenth of the size. ``--profile`` adds where
the time of the first PostgreSQL import went, function by function (cProfile, which slows
Python down: read its shares, not its seconds).

    uv run python bench/import_members.py --members 50000                # develop
    flock /tmp/meisai-heavy.lock uv run python bench/import_members.py   # full size

Run heavy sizes under ``flock /tmp/meisai-heavy.lock`` on shared machines.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
#: The throwaway database, unless ``--database`` names another.
PG_DB = "meisai_he_bench"
GOAL = 20_000

HEADER = (
    "member_no,card_no,card_expiry,product_code,name_kanji,name_kana,birth_date,postal_code,"
    "address,phone_home,phone_mobile,email,status,cancelled_on,fee_exempt,paper_required,"
    "debit_bank,debit_branch,debit_account_last4\n"
)
BANKS = [("岩手銀行", "本店営業部"), ("北日本銀行", "盛岡駅前支店"), ("東北銀行", "本店")]


def _luhn_complete(body: str) -> str:
    """``body`` with the check digit that makes it pass the Luhn check (as real cards do)."""
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char)
        if position % 2 == 0:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return body + str((10 - total % 10) % 10)


def _member_rows(n: int, *, changed: bool) -> list[str]:
    """The rows (one per card) of member ``n``; ``changed``: as the second file sends them."""
    moved = changed and n % 20 == 0
    cancelled = n % 97 == 0 or (changed and n % 53 == 0)
    address = f"岩手県盛岡市{'大通' if moved else '中央通'}{n % 9 + 1}-{n % 17 + 1}-1"
    home = f"019{n:07d}"[:10] if n % 3 == 0 and not (changed and n % 30 == 0) else ""
    mobile = f"090{n:08d}" if n % 25 or changed else ""
    bank, branch = BANKS[n % len(BANKS)]
    debit = f"{bank},{branch},{n % 10000:04d}" if n % 4 else ",,"
    status = "cancelled,2025-03-31" if cancelled else "active,"
    member = (
        f"盛岡 太郎{n},モリオカ タロウ,{1940 + n % 60}-{n % 12 + 1:02d}-{n % 28 + 1:02d},"
        f"020-{n % 10000:04d},{address},{home},{mobile},m{n}@example.jp,{status},"
        f"{int(n % 31 == 0)},{int(n % 43 == 0)},{debit}"
    )
    cards = [(f"4980{n:011d}", "IRIS" if n % 50 == 0 else "STD")]
    if n % 10 == 0:
        cards.append((f"4981{n:011d}", "STD"))
    if changed and n % 40 == 0:
        # The card was replaced: the old number leaves the file, a new one comes.
        cards[0] = (f"4982{n:011d}", cards[0][1])
    expiry = "2031-06" if changed and n % 15 == 0 else "2029-12"
    return [
        f"M{n:09d},{_luhn_complete(number)},{expiry},{product},{member}\n"
        for number, product in cards
    ]


def generate(directory: Path, *, members: int) -> tuple[Path, Path, Path]:
    """products.csv, members.csv and members-2.csv (the same members changed, 1 % new)."""
    products = directory / "products.csv"
    products.write_text(
        "product_code,name,program_excluded\nSTD,日専連カード,0\nIRIS,IRISカード,1\n"
    )
    first, second = directory / "members.csv", directory / "members-2.csv"
    for path, changed, count in (
        (first, False, members),
        (second, True, members + max(1, members // 100)),
    ):
        with path.open("w", encoding="utf-8") as out:
            out.write(HEADER)
            buffer: list[str] = []
            for n in range(1, count + 1):
                buffer.extend(_member_rows(n, changed=changed))
                if len(buffer) > 50_000:
                    out.writelines(buffer)
                    buffer = []
            out.writelines(buffer)
    return products, first, second


def measure(engine: str, members: int, database: str, profile: bool) -> dict[str, object]:
    """Run in a process of its own: settings (the database) are chosen before Django starts."""
    with tempfile.TemporaryDirectory(prefix="meisai-bench-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        products, first, second = generate(directory, members=members)
        generated = time.perf_counter() - started
        if engine == "postgresql":
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
                admin.execute(f"CREATE DATABASE {database}")
            os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{database}"
        else:
            os.environ["DATABASE_URL"] = f"sqlite:///{directory / 'bench.sqlite3'}"
        os.environ.setdefault("MEISAI_LOG_LEVEL", "WARNING")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meisai.settings")
        try:
            import django

            django.setup()
            from django.core.management import call_command
            from django.db import connection

            from meisai.imports.services import import_file
            from meisai.members.models import Card, Member, Phone

            call_command("migrate", verbosity=0)
            import_file(kind="products", path=products, actor="bench", progress=False)
            profiler = cProfile.Profile() if profile else None
            started, cpu = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            outcome = import_file(kind="members", path=first, actor="bench", progress=False)
            if profiler:
                profiler.disable()
            first_s = time.perf_counter() - started
            first_cpu = time.process_time() - cpu
            assert outcome.counts.inserted == members, outcome.counts
            stored = {
                "members": Member.objects.count(),
                "cards": Card.objects.count(),
                "phones": Phone.objects.count(),
            }
            started = time.perf_counter()
            again = import_file(kind="members", path=second, actor="bench", progress=False)
            second_s = time.perf_counter() - started
            assert again.counts.inserted == max(1, members // 100), again.counts
            result: dict[str, object] = {
                "engine": engine,
                "members": members,
                "rows": sum(1 for _ in first.open("rb")) - 1,
                "stored": stored,
                "generate_s": generated,
                "first_s": first_s,
                "first_cpu_s": first_cpu,
                "second_s": second_s,
                "second_members": again.counts.items,
                "second_updated": again.counts.updated,
            }
            if profiler:
                result["profile"] = _profile_text(profiler)
            if engine == "postgresql":
                result.update(bare_copy(connection, first))
            connection.close()
            return result
        finally:
            if engine == "postgresql":
                import psycopg
                from django.db import connections

                connections.close_all()
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def _profile_text(profiler: cProfile.Profile) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"meisai|psycopg|hmac|unicodedata|csv", 45)
    return out.getvalue()


def _split(path: Path) -> tuple[bytes, bytes, bytes]:
    """The file's rows as the member, card and phone tables hold them, in COPY text format —
    prepared before the clock starts (no checks, no hash: the card number's digits stand in
    for its hash, the member ids are the file's order)."""
    members: list[str] = []
    cards: list[str] = []
    phones: list[str] = []
    ids: dict[str, int] = {}
    stamp = "2026-01-01 00:00:00+00"
    with path.open(encoding="utf-8") as handle:
        next(handle)
        for text in handle:
            f = text.rstrip("\n").split(",")
            member_id = ids.get(f[0])
            if member_id is None:
                member_id = ids[f[0]] = len(ids) + 1
                bank, branch, last4, cancelled = (value or "\\N" for value in (*f[16:19], f[13]))
                members.append(
                    f"{member_id}\t{f[0]}\t{f[4]}\t{f[5]}\t{f[6]}\t{f[7]}\t{f[8]}\t{f[11]}\t"
                    f"{f[12]}\t{cancelled}\t{f[14] == '1'}\t{f[15] == '1'}\t{f[3] == 'IRIS'}\t"
                    f"{bank}\t{branch}\t{last4}\t{stamp}\t{stamp}\n"
                )
                for kind, number in (("home", f[9]), ("mobile", f[10])):
                    if number:
                        phones.append(f"{member_id}\t{kind}\t{number}\n")
            cards.append(
                f"{member_id}\t{1 if f[3] == 'STD' else 2}\t{f[1]:0>64}\t{f[1][-4:]}\t{f[2]}\t"
                f"{f[12] == 'active'}\t{stamp}\t{stamp}\n"
            )
    return "".join(members).encode(), "".join(cards).encode(), "".join(phones).encode()


def bare_copy(connection: object, path: Path) -> dict[str, float]:
    """Bare COPY timings to compare the importer with, each into empty tables.

    * ``bare_copy_s``: the CSV file by server-side ``COPY … (FORMAT csv)`` into a plain table
      of the file's shape (the floor: PostgreSQL parses the CSV and appends to a heap);
    * ``bare_copy_shape_s``: the headline — the file's member, card and phone rows, split
      before the clock starts, by text COPY into empty tables ``LIKE`` the member, card and
      phone tables ``INCLUDING ALL`` (columns, checks, indexes), commit included.
    """
    timings: dict[str, float] = {}
    raw = connection.connection  # type: ignore[attr-defined]
    raw.autocommit = True
    raw.execute(
        "CREATE TABLE bench_bare (member_no varchar(20), card_no varchar(19),"
        " card_expiry varchar(7), product_code varchar(20), name_kanji varchar(100),"
        " name_kana varchar(100), birth_date date, postal_code varchar(8), address varchar(200),"
        " phone_home varchar(15), phone_mobile varchar(15), email varchar(254),"
        " status varchar(10), cancelled_on date, fee_exempt boolean, paper_required boolean,"
        " debit_bank varchar(60), debit_branch varchar(60), debit_account_last4 varchar(4))"
    )
    started = time.perf_counter()
    with (
        raw.cursor() as cursor,
        path.open("rb") as handle,
        cursor.copy("COPY bench_bare FROM STDIN (FORMAT csv, HEADER true)") as copy,
    ):
        while chunk := handle.read(1 << 20):
            copy.write(chunk)
    timings["bare_copy_s"] = time.perf_counter() - started
    raw.execute("DROP TABLE bench_bare")

    member_rows, card_rows, phone_rows = _split(path)
    for table in ("member", "card", "phone"):
        # Columns, defaults, checks and indexes; no triggers (LIKE copies none): the
        # importer's set-based reference checks of cards and phones are part of meisai's time.
        raw.execute(f"CREATE TABLE bench_{table} (LIKE members_{table} INCLUDING ALL)")
    raw.autocommit = False
    started = time.perf_counter()
    with raw.cursor() as cursor:
        for statement, payload in (
            (
                "COPY bench_member (id, member_no, name_kanji, name_kana, birth_date,"
                " postal_code, address, email, status, cancelled_on, fee_exempt,"
                " paper_required, program_excluded, debit_bank, debit_branch,"
                " debit_account_last4, created_at, updated_at) FROM STDIN",
                member_rows,
            ),
            (
                "COPY bench_card (member_id, product_id, number_hash, last4, expiry, is_active,"
                " created_at, updated_at) FROM STDIN",
                card_rows,
            ),
            ("COPY bench_phone (member_id, kind, number) FROM STDIN", phone_rows),
        ):
            with cursor.copy(statement) as copy:
                for start in range(0, len(payload), 1 << 20):
                    copy.write(payload[start : start + (1 << 20)])
    raw.commit()
    timings["bare_copy_shape_s"] = time.perf_counter() - started
    raw.autocommit = True
    for table in ("member", "card", "phone"):
        raw.execute(f"DROP TABLE bench_{table}")
    return timings


#: The bare baselines, as printed.
BASELINES = [
    ("bare_copy_s", "COPY of the file, server-side CSV, plain table"),
    ("bare_copy_shape_s", "COPY of its rows into the member, card and phone tables' shape"),
]
HEADLINE = "bare_copy_shape_s"


def _database_name(text: str) -> str:
    """A database name that is safe to paste into DROP/CREATE DATABASE."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", text):
        raise argparse.ArgumentTypeError("lower-case letters, digits and _ only")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1_000_000, help="members (PostgreSQL)")
    parser.add_argument(
        "--sqlite-scale",
        type=float,
        default=0.1,
        help="size of the SQLite run relative to --members (0 skips it)",
    )
    parser.add_argument(
        "--database",
        default=PG_DB,
        type=_database_name,
        help=f"throwaway PostgreSQL database, created and dropped by the run (default {PG_DB})",
    )
    parser.add_argument(
        "--profile", action="store_true", help="where the first import's time went (cProfile)"
    )
    parser.add_argument("--engine", choices=["postgresql", "sqlite"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        print(json.dumps(measure(args.engine, args.members, args.database, args.profile)))
        return

    def child(engine: str, members: int) -> dict:
        command = [sys.executable, __file__, "--engine", engine, "--members", str(members)]
        command += ["--database", args.database] + (["--profile"] if args.profile else [])
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    pg = child("postgresql", args.members)
    rate = pg["members"] / pg["first_s"]
    stored = pg["stored"]
    print(
        f"PostgreSQL — {pg['members']:,} members, {pg['rows']:,} rows"
        f" ({stored['cards']:,} cards, {stored['phones']:,} phones)"
    )
    print(
        f"  meisai import members, first file   {pg['first_s']:6.1f} s {rate:>10,.0f} members/s"
        f"  (of which {pg['first_cpu_s']:.1f} s CPU in Python)"
    )
    print(
        f"  meisai import members, changed file {pg['second_s']:6.1f} s"
        f" {pg['second_members'] / pg['second_s']:>10,.0f} members/s"
        f"  ({pg['second_updated']:,} members changed)"
    )
    print("  bare baselines of the first file, into empty tables, and meisai's ratio to each:")
    for key, label in BASELINES:
        baseline = pg["members"] / pg[key]
        print(
            f"    {label:<64} {pg[key]:5.1f} s {baseline:>10,.0f} members/s"
            f"  ratio {rate / baseline:.2f}"
        )
    verdict = "PASS" if rate >= GOAL else "FAIL"
    print(
        f"  HEADLINE {rate:,.0f} members/s (goal ≥ {GOAL:,}): {verdict};"
        f" ratio to the bare COPY into the tables' shape {rate * pg[HEADLINE] / pg['members']:.2f}"
    )
    if "profile" in pg:
        print(pg["profile"])
    if args.sqlite_scale > 0:
        members = max(1, int(args.members * args.sqlite_scale))
        lite = child("sqlite", members)
        print(f"SQLite — {lite['members']:,} members (scale {args.sqlite_scale})")
        print(
            f"  meisai import members, first file   {lite['first_s']:6.1f} s"
            f" {lite['members'] / lite['first_s']:>10,.0f} members/s"
        )
        print(
            f"  meisai import members, changed file {lite['second_s']:6.1f} s"
            f" {lite['second_members'] / lite['second_s']:>10,.0f} members/s"
        )


if __name__ == "__main__":
    main()
