"""``meisai purge --before YYYY-MM``: months past the retention are archived, verified, then
dropped; a dry run first; refused inside the members' window or the retention; audited.

Outside a test transaction: on PostgreSQL the purge works as the owner, on a connection of its
own, which must see the rows the test wrote."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from meisai.audit.models import AuditEntry
from meisai.clock import JST
from meisai.statements.models import Statement, StatementBalance, UsageLine
from meisai.statements.partitions import month_partitions_ensure, partitioned_months
from tests.factories import MemberFactory, StatementFactory, UsageLineFactory

pytestmark = pytest.mark.django_db(transaction=True)

#: The latest billing month is 2036-06: with 120 months of retention 2026-07 is the first kept.
TODAY = dt.datetime(2036, 6, 20, 12, 0, tzinfo=JST)
OLD, KEPT = "2026-05", "2026-07"


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("purge", *args, "--actor", "op-sato", stdout=out)
    return out.getvalue()


@pytest.fixture
def months(tmp_path, settings):
    """Two members with lines and statements in an old month and a kept one, and a balance."""
    settings.MEISAI_ARCHIVE_DIR = str(tmp_path / "archive")
    month_partitions_ensure([OLD, KEPT])
    members = [MemberFactory(member_no=f"M000090{i}") for i in (1, 2)]
    for member in members:
        for month in (OLD, KEPT):
            UsageLineFactory(member=member, billing_month=month, merchant="盛岡百貨店")
            UsageLineFactory(member=member, billing_month=month, merchant="花巻商店")
            StatementFactory(member=member, billing_month=month)
    StatementBalance.objects.create(
        member=members[0], billing_month=OLD, revolving_balance=1000, installment_balance=0
    )
    return members


def _rows() -> dict[str, tuple[int, int, int]]:
    return {
        month: (
            UsageLine.objects.filter(billing_month=month).count(),
            Statement.objects.filter(billing_month=month).count(),
            StatementBalance.objects.filter(billing_month=month).count(),
        )
        for month in (OLD, KEPT)
    }


@time_machine.travel(TODAY, tick=False)
def test_a_dry_run_names_the_months_and_their_rows_and_changes_nothing(months, tmp_path):
    before = _rows()
    out = _run("--before", KEPT)
    assert out.splitlines() == [
        "ドライラン(書き込みなし): 2026年7月請求分より前の1か月を保存して削除します。",
        "  2026年5月請求分: ご利用明細 4行、明細書 2件、残高 1件",
        "  実行するには --execute を付けてください。",
    ]
    assert _rows() == before == {OLD: (4, 2, 1), KEPT: (4, 2, 0)}
    assert not (tmp_path / "archive").exists()
    assert not AuditEntry.objects.filter(action="statements_purge").exists()


@time_machine.travel(TODAY, tick=False)
def test_execute_archives_verifies_then_drops_only_the_months_before(months, tmp_path):
    kept_ids = sorted(UsageLine.objects.filter(billing_month=KEPT).values_list("id", flat=True))
    out = _run("--before", KEPT, "--execute")

    archive = tmp_path / "archive" / f"meisai-{OLD}.jsonl.gz"
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert out.splitlines() == [
        "2026年7月請求分より前の1か月を保存し、削除しました。",
        "  2026年5月請求分: ご利用明細 4行、明細書 2件、残高 1件",
        f"  保存先: {archive}",
        f"  SHA-256: {digest}",
    ]
    assert Path(f"{archive}.sha256").read_text() == f"{digest}  {archive.name}\n"
    lines = gzip.decompress(archive.read_bytes()).decode().splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "meisai-archive"
    assert header["months"] == [OLD]
    assert {t: v["rows"] for t, v in header["tables"].items()} == {
        "statements_usageline": 4,
        "statements_statement": 2,
        "statements_statementbalance": 1,
    }
    rows = [json.loads(line) for line in lines[1:]]
    assert len(rows) == 7
    usage_columns = header["tables"]["statements_usageline"]["columns"]
    merchants = sorted(
        row["row"][usage_columns.index("merchant")]
        for row in rows
        if row["table"] == "statements_usageline"
    )
    assert merchants == ["盛岡百貨店", "盛岡百貨店", "花巻商店", "花巻商店"]

    assert _rows() == {OLD: (0, 0, 0), KEPT: (4, 2, 0)}
    assert sorted(UsageLine.objects.filter(billing_month=KEPT).values_list("id", flat=True)) == (
        kept_ids
    )
    entry = AuditEntry.objects.get(action="statements_purge")
    assert entry.actor == "op-sato"
    assert entry.detail == {
        "before": KEPT,
        "months": [OLD],
        "usage_lines": 4,
        "statements": 2,
        "balances": 1,
        "archive": str(archive),
        "sha256": digest,
    }
    if connection.vendor == "postgresql":
        found = partitioned_months()
        assert OLD not in found
        assert set(found[KEPT]) == {"statements_usageline", "statements_statement"}
    # Nothing is left to purge: a second run says so and changes nothing.
    assert _run("--before", KEPT, "--execute").splitlines() == [
        "2026年7月請求分より前に削除できる月はありません。"
    ]


@time_machine.travel(TODAY, tick=False)
def test_a_month_inside_the_retention_is_refused_and_nothing_changes(months, tmp_path):
    before = _rows()
    with pytest.raises(CommandError) as refused:
        _run("--before", "2026-08", "--execute")
    assert str(refused.value) == (
        "2026年7月請求分は保存期間(MEISAI_RETENTION_MONTHS=120か月:2026年7月請求分～2036年6月請求分)内のため、"
        "削除できません(--before には2026-07以前を指定してください)。"
    )
    assert _rows() == before
    assert not (tmp_path / "archive").exists()


@time_machine.travel(TODAY, tick=False)
@override_settings(MEISAI_RETENTION_MONTHS=13)
def test_a_month_members_may_see_is_refused_whatever_the_retention(months):
    before = _rows()
    with pytest.raises(CommandError) as refused:
        _run("--before", "2035-07", "--execute")
    assert str(refused.value) == (
        "2035年6月請求分は会員が見られる明細(2035年6月請求分～2036年6月請求分)の月のため、削除できません"
        "(--before には2035-06以前を指定してください)。"
    )
    assert _rows() == before


def test_a_month_that_is_not_one_is_refused():
    with pytest.raises(CommandError, match="--before は2014-04のようにYYYY-MMで指定してください"):
        _run("--before", "2026-13")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's partitions")
@time_machine.travel(TODAY, tick=False)
def test_a_month_left_in_the_default_partition_is_refused(tmp_path, settings):
    settings.MEISAI_ARCHIVE_DIR = str(tmp_path / "archive")
    UsageLineFactory(billing_month="2020-01")  # no partition asked for: the default holds it
    with pytest.raises(CommandError, match="既定のパーティションにあるため、削除できません"):
        _run("--before", "2021-01", "--execute")
    assert UsageLine.objects.filter(billing_month="2020-01").count() == 1
    assert not AuditEntry.objects.filter(action="statements_purge").exists()
