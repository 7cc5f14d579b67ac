"""Backup and restore as docs/deployment.md describes it: ``pg_dump`` the database,
``pg_restore`` it into a new one, and the statements there are the ones issued — same count,
same totals, and every PDF renders to the SHA-256 recorded before the backup."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import time_machine
from django.db import connection
from django.db.models import Sum

from meisai.billing_calendar import BillingMonth
from meisai.clock import JST
from meisai.statements.close import statement_close
from meisai.statements.models import Statement, UsageLine
from meisai.statements.pdf import statements_pdf_render
from tests.factories import CardFactory

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
        reason="pg_dump/pg_restore need PostgreSQL",
    ),
]

ROOT = Path(__file__).resolve().parents[2]


def _connection_args(name: str) -> list[str]:
    settings = connection.settings_dict
    return [
        f"--host={settings['HOST'] or '127.0.0.1'}",
        f"--port={settings['PORT'] or 5432}",
        f"--username={settings['USER'] or 'postgres'}",
        f"--dbname={name}",
    ]


def _june_statements() -> None:
    for n, amount in enumerate([5400, 12800, 300], start=1):
        card = CardFactory(member__member_no=f"M00005{n:02d}")
        for line_no in (1, 2):
            UsageLine.objects.create(
                member=card.member,
                card=card,
                billing_month="2025-06",
                line_no=line_no,
                use_date=dt.date(2025, 5, 10 + line_no),
                merchant="盛岡中央スーパー",
                user_kind="本人",
                payment_type="1回",
                use_amount=amount * line_no,
                billed_amount=amount * line_no,
            )
    with time_machine.travel(dt.datetime(2025, 6, 10, 9, 0, tzinfo=JST), tick=False):
        statement_close(month=BillingMonth(2025, 6), actor="operator")


def test_dump_restore_into_a_new_database_and_statements_still_verify(transactional_db, tmp_path):
    _june_statements()
    recorded = statements_pdf_render(month=BillingMonth(2025, 6))
    assert recorded == {"rendered": 3, "recorded": 3, "verified": 0, "mismatched": 0}
    source_total = Statement.objects.aggregate(total=Sum("total"))["total"]
    # 2025-06 is after the paper-fee start: 165 yen on each of the three paper statements.
    assert source_total == 3 * (5400 + 12800 + 300) + 3 * 165

    dump = tmp_path / "meisai.dump"
    subprocess.run(
        [
            "pg_dump",
            "--format=custom",
            f"--file={dump}",
            *_connection_args(connection.settings_dict["NAME"]),
        ],
        check=True,
        timeout=120,
    )
    restored = f"{connection.settings_dict['NAME']}_restored"
    admin = f"postgres://{connection.settings_dict['USER'] or 'postgres'}@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{restored}"')
        conn.execute(f'CREATE DATABASE "{restored}"')
    try:
        subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", *_connection_args(restored), str(dump)],
            check=True,
            timeout=120,
        )
        result = subprocess.run(
            [sys.executable, "-m", "tests.production.driver", "verify", "--month", "2025-06"],
            env={**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{restored}"},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        figures = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')

    assert figures == {
        "statements": 3,
        "total": source_total,
        "pdf": {"rendered": 3, "recorded": 0, "verified": 3, "mismatched": 0},
    }
