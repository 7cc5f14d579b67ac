# ruff: noqa: S608 — the SQL is built only from model table names; values go in as parameters.
"""The monthly close (SPEC 3.6): usage lines of a billing month become confirmed statements.

One close is one transaction. It is set-based: a handful of ``INSERT … SELECT`` statements make
every statement (with its fee) and every campaign grant of the month at once, the same SQL on
PostgreSQL and SQLite, instead of a per-member loop of ORM queries (about 60 times slower).
``bench/close_month.py`` measures it.

The close orchestrates; each rule it applies lives in its own module, with the SQL twin the
close runs beside the Python twin pages read:

* **which months**: the rule of :mod:`meisai.statements.month_rules` — nothing before the
  service start, and (unless ``force``, which the audit row records) no month while an earlier
  month of the service with usage lines is still open.
* **statement**: a member with at least one usage line of M gets one statement; a member without
  gets none (and therefore no fee).
* **delivery**: the rule of :mod:`meisai.members.delivery` — the preference in force at the
  month's registration cutoff, paper for the members the programme cannot serve on the web.
* **paper fee**: the rule of :mod:`meisai.statements.fees` — a paper statement of a member the
  fee applies to carries it as ``fee_total``, from ``paper_fee_start()``.
* **campaign grants**: the rule of :mod:`meisai.points.eligibility`, once per member and
  campaign.
* **lines**: a statement's lines are the member's usage lines of M — not copied: the close
  only freezes them (the database refuses to change a usage line once its member and month
  have a statement, or to add one to a confirmed month) — plus the paper fee, which the
  statement prints as its last line. ``line_count`` counts both.
* **reconciliation**: imported usage total of M = Σ statement totals − Σ fees = Σ statements'
  usage totals, and Σ line counts = usage lines + fees; otherwise nothing is confirmed and the
  failure is recorded.

Concurrency: the close takes a per-month advisory lock on PostgreSQL (SQLite runs write
transactions one at a time: settings open them IMMEDIATE) and a SHARE lock on the usage table,
so an import cannot slip lines in between the statements' aggregation and the confirmation. Once the month's
``MonthClose`` is confirmed a second close changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connection, transaction

from meisai import billing_calendar as cal
from meisai.audit.services import audit_record
from meisai.billing_calendar import BillingMonth
from meisai.clock import JST, now
from meisai.core.jobs import connection_reopen_if_lost
from meisai.members import delivery
from meisai.members.models import Member
from meisai.points import eligibility
from meisai.points.models import Campaign, PointEntry
from meisai.statements import fees, month_rules, partitions
from meisai.statements.models import MonthClose, Statement, UsageLine

logger = logging.getLogger(__name__)

#: First key of the PostgreSQL advisory lock of a month's close ("me" in ASCII).
_ADVISORY_NAMESPACE = 0x6D65


class CloseRefused(ValueError):
    """The close cannot run; the message says why, in Japanese."""


class ReconciliationError(CloseRefused):
    """The statements do not add up to the imported lines: nothing was confirmed."""


@dataclass(frozen=True)
class CloseResult:
    """What a close did (or, for a dry run, would do)."""

    month: BillingMonth
    #: "confirmed" (this run confirmed the month), "already_confirmed" (nothing changed) or
    #: "dry_run" (computed and rolled back).
    outcome: str
    statements: int = 0
    web_statements: int = 0
    paper_statements: int = 0
    fees: int = 0
    fee_total: int = 0
    usage_lines: int = 0
    usage_total: int = 0
    statement_total: int = 0
    grants: int = 0
    points_granted: int = 0
    debit_date: dt.date | None = None
    campaigns: tuple[str, ...] = field(default=())
    #: Earlier months of the service left open: closed past them with ``force`` (month_rules).
    open_months: tuple[BillingMonth, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return self.outcome == "confirmed"

    @property
    def reconciled(self) -> bool:
        return self.usage_total == self.statement_total - self.fee_total

    def report_lines(self) -> list[str]:
        """The reconciliation an operator reads, one fact per line."""
        head = {
            "confirmed": f"{self.month.label}: 確定しました。",
            "already_confirmed": f"{self.month.label}: 確定済みのため、何も変更していません。",
            "dry_run": f"{self.month.label}: ドライラン(書き込みなし)。",
        }[self.outcome]
        open_labels = "、".join(m.label for m in self.open_months)
        verb = "締めます" if self.outcome == "dry_run" else "締めました"
        forced = [f"  注意: {open_labels}が未締めのまま --force で{verb}"] if open_labels else []
        return [
            head,
            *forced,
            f"  明細書: {self.statements:,}件 (WEB {self.web_statements:,} / 紙 {self.paper_statements:,})",
            f"  取込明細: {self.usage_lines:,}行 合計 {self.usage_total:,}円",
            f"  紙明細発行手数料: {self.fees:,}件 合計 {self.fee_total:,}円",
            f"  請求額合計: {self.statement_total:,}円",
            f"  照合: 取込明細合計 {self.usage_total:,}円 = 請求額合計 {self.statement_total:,}円"
            f" − 手数料 {self.fee_total:,}円 … {'一致' if self.reconciled else '不一致'}",
            f"  キャンペーンポイント: {self.grants:,}名 合計 {self.points_granted:,}ポイント",
            f"  引落日: {self.debit_date.isoformat() if self.debit_date else '-'}",
        ]


class _DryRunRollback(Exception):
    """Raised inside the close transaction to undo a dry run."""


def _tables() -> dict[str, str]:
    return {
        "usage": UsageLine._meta.db_table,
        "statement": Statement._meta.db_table,
        "member": Member._meta.db_table,
        "entry": PointEntry._meta.db_table,
    }


def _dt(value: dt.datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _date(value: dt.date) -> Any:
    return connection.ops.adapt_datefield_value(value)


def _lock_month(month: BillingMonth) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [_ADVISORY_NAMESPACE, month.year * 100 + month.month],
            )
            # Imports wait until the close commits; afterwards they see the month confirmed.
            cursor.execute(f"LOCK TABLE {UsageLine._meta.db_table} IN SHARE MODE")
            # A few big set operations: JIT compilation costs more than it saves (0.7 s of a
            # 1 s statement insert measured), and sorts of a million lines fit in memory.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL work_mem = '256MB'")
            # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED; the few the close still
            # meets (the month record's) are checked at once, so the commit has nothing left to
            # do (the statements' and grants' references are set-based triggers,
            # ``meisai.statements.triggers``).
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _grant_campaign(*, campaign: Campaign, month: BillingMonth, moment: dt.datetime) -> int:
    """Grant ``campaign``'s points to every member who qualifies (``points.eligibility``); return
    how many got them now.

    ``ON CONFLICT DO NOTHING`` skips members granted before (the unique constraint (member,
    campaign) makes the grant once-only). An anti-join against the point entries instead would
    rescan, for every member, the pages this very INSERT is filling: 4.7 s measured.
    """
    qualifying, params = eligibility.qualifying_members_sql(campaign=campaign)
    params |= {
        "kind": PointEntry.Kind.CAMPAIGN,
        "points": campaign.points,
        "month": str(month),
        "campaign": campaign.pk,
        "description": campaign.name[:200],
        "moment": _dt(moment),
    }
    sql = f"""
        INSERT INTO {_tables()["entry"]}
            (member_id, kind, points, billing_month, campaign_id, description, recorded_at)
        SELECT q.id, %(kind)s, %(points)s, %(month)s, %(campaign)s, %(description)s, %(moment)s
        FROM ({qualifying}) q
        WHERE true  -- SQLite would read the ON of ON CONFLICT as a join's without a WHERE
        ON CONFLICT DO NOTHING
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def _insert_statements(*, month: BillingMonth, moment: dt.datetime) -> None:
    t = _tables()
    fee = fees.paper_fee_amount_for(month)
    in_force = delivery.preference_in_force_sql(cutoff_param="%(cutoff)s")
    month_delivery = delivery.month_delivery_sql(member_alias="m", preference_alias="p")
    # The per-member facts are one MATERIALIZED CTE so the delivery and the fee are decided once
    # per member; inlined, the planner would repeat the CASEs for every reference.
    sql = f"""
        WITH charged AS MATERIALIZED (
            SELECT f.member_id, f.usage_total, f.line_count, f.delivery,
                   CASE WHEN f.delivery = 'paper' AND NOT f.fee_exempt
                        THEN %(fee)s ELSE 0 END AS fee,
                   f.name_kanji, f.debit_bank, f.debit_branch, f.debit_account_last4
            FROM (
                SELECT a.member_id, a.usage_total, a.line_count,
                       {fees.exempt_sql("m")} AS fee_exempt,
                       {month_delivery} AS delivery,
                       m.name_kanji, m.debit_bank, m.debit_branch, m.debit_account_last4
                FROM (
                    SELECT u.member_id, SUM(u.billed_amount) AS usage_total,
                           COUNT(*) AS line_count
                    FROM {t["usage"]} u
                    WHERE u.billing_month = %(month)s
                    GROUP BY u.member_id
                ) a
                JOIN {t["member"]} m ON m.id = a.member_id
                LEFT JOIN ({in_force}) p ON p.member_id = a.member_id
            ) f
        )
        INSERT INTO {t["statement"]}
            (member_id, billing_month, delivery, usage_total, fee_total, total, line_count,
             points_granted, debit_date, confirmed_at, published_at, pdf_sha256,
             holder_name, debit_bank, debit_branch, debit_account_last4)
        SELECT d.member_id, %(month)s, d.delivery, d.usage_total, d.fee, d.usage_total + d.fee,
               d.line_count + CASE WHEN d.fee <> 0 THEN 1 ELSE 0 END,
               COALESCE(g.points, 0), %(debit)s, %(moment)s, NULL, '',
               d.name_kanji, d.debit_bank, d.debit_branch, d.debit_account_last4
        FROM charged d
        LEFT JOIN (
            SELECT p.member_id, SUM(p.points) AS points FROM {t["entry"]} p
            WHERE p.billing_month = %(month)s GROUP BY p.member_id
        ) g ON g.member_id = d.member_id
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "month": str(month),
                "cutoff": _dt(cal.registration_cutoff(month)),
                "fee": fee,
                "debit": _date(cal.debit_date(month)),
                "moment": _dt(moment),
            },
        )


def _tally(*, month: BillingMonth, campaigns: list[Campaign], outcome: str) -> CloseResult:
    """The month's figures, and its reconciliation: the statements against an independent scan
    of the imported lines.

    Every usage line of the month is on its member's statement (Σ the statements' usage totals
    = Σ the imported lines, each statement's usage total being its member's sum from one
    aggregation in ``_insert_statements``), every fee is a line (Σ line counts = imported lines
    + fees), and each total is usage + fee (a CHECK of the table). Once confirmed, neither the
    statements nor their lines can change (``meisai.statements.triggers``), so this stays true.
    Raises :class:`ReconciliationError` when it does not hold."""
    t = _tables()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT COUNT(*),
                       COALESCE(SUM(CASE WHEN delivery = 'web' THEN 1 ELSE 0 END), 0),
                       COALESCE(SUM(CASE WHEN fee_total <> 0 THEN 1 ELSE 0 END), 0),
                       COALESCE(SUM(fee_total), 0), COALESCE(SUM(usage_total), 0),
                       COALESCE(SUM(total), 0), COALESCE(SUM(line_count), 0)
                FROM {t["statement"]} WHERE billing_month = %s""",
            [str(month)],
        )
        row = [int(value) for value in cursor.fetchone()]
        statements, web, fees, fee_total, on_statements, statement_total, line_count = row
        cursor.execute(
            f"SELECT COUNT(*), COALESCE(SUM(billed_amount), 0) FROM {t['usage']}"
            " WHERE billing_month = %s",
            [str(month)],
        )
        usage_lines, usage_total = (int(value) for value in cursor.fetchone())
        cursor.execute(
            f"SELECT COUNT(*), COALESCE(SUM(points), 0) FROM {t['entry']}"
            " WHERE billing_month = %s AND kind = %s",
            [str(month), PointEntry.Kind.CAMPAIGN],
        )
        grant_count, points = cursor.fetchone()
    result = CloseResult(
        month=month,
        outcome=outcome,
        statements=statements,
        web_statements=web,
        paper_statements=statements - web,
        fees=fees,
        fee_total=fee_total,
        usage_lines=usage_lines,
        usage_total=usage_total,
        statement_total=statement_total,
        grants=int(grant_count),
        points_granted=int(points),
        debit_date=cal.debit_date(month),
        campaigns=tuple(c.code for c in campaigns),
    )
    if not result.reconciled or on_statements != usage_total:
        raise ReconciliationError(
            f"{month.label}: 照合が一致しません(取込明細合計 {usage_total:,}円、"
            f"請求額合計 {statement_total:,}円、手数料 {fee_total:,}円、"
            f"明細書のご利用額合計 {on_statements:,}円)"
        )
    if line_count != usage_lines + fees:
        raise ReconciliationError(
            f"{month.label}: 明細行数が一致しません"
            f"(取込 {usage_lines:,}行 + 手数料 {fees:,}行 ≠ 明細書 {line_count:,}行)"
        )
    return result


def _recorded_result(record: MonthClose, month: BillingMonth) -> CloseResult:
    """The figures of a month confirmed earlier, for the "nothing changed" report."""
    grants = PointEntry.objects.filter(billing_month=month, kind=PointEntry.Kind.CAMPAIGN)
    return CloseResult(
        month=month,
        outcome="already_confirmed",
        statements=record.statements,
        web_statements=record.web_statements,
        paper_statements=record.paper_statements,
        fees=record.fees,
        fee_total=record.fee_total,
        usage_lines=UsageLine.objects.filter(billing_month=month).count(),
        usage_total=record.usage_total,
        statement_total=record.statement_total,
        grants=grants.count(),
        points_granted=record.points_granted,
        debit_date=cal.debit_date(month),
    )


def _refuse_off_calendar(month: BillingMonth, moment: dt.datetime) -> None:
    """The refusals that need no lock: a month before the service start, and one whose
    registration cutoff has not passed."""
    outside = month_rules.before_service_start(month)
    if outside:
        raise CloseRefused(f"{outside}、締め処理できません。")
    cutoff = cal.registration_cutoff(month)
    if moment < cutoff:
        raise CloseRefused(
            f"{month.label}の締めは、配送方法が決まる"
            f"{cutoff.astimezone(JST):%Y-%m-%d %H:%M}(日本時間)以降に実行できます。"
        )


def _refuse_out_of_order(month: BillingMonth, *, force: bool) -> tuple[BillingMonth, ...]:
    """The earlier months of the service still open; refused unless ``force``."""
    open_months = month_rules.open_months_before(month)
    if open_months and not force:
        raise CloseRefused(month_rules.open_months_message(month, open_months))
    return tuple(open_months)


def statement_close_check(*, month: BillingMonth, force: bool = False) -> None:
    """Raise :class:`CloseRefused` when :func:`statement_close` would refuse ``month`` now.

    For ``meisai close --queue``, which hands the close to a worker: the operator hears the
    reason at once instead of from a failed job. The close checks again when it runs.
    """
    _refuse_off_calendar(month, now())
    confirmed = MonthClose.objects.filter(
        billing_month=month, status=MonthClose.Status.CONFIRMED
    ).exists()
    if not confirmed:
        _refuse_out_of_order(month, force=force)


def statement_close(
    *, month: BillingMonth, actor: str, dry_run: bool = False, force: bool = False
) -> CloseResult:
    """Close ``month``: statements with their paper fees, and campaign grants, all confirmed in
    one transaction.

    Idempotent: a confirmed month returns ``outcome="already_confirmed"`` and changes nothing.
    Raises :class:`CloseRefused` for a month before the service start, before the month's
    registration cutoff has passed, and — unless ``force`` — while an earlier month of the
    service with usage lines is not confirmed (:mod:`meisai.statements.month_rules`; a forced
    close names those months in its audit row). Raises :class:`ReconciliationError` (after
    recording the failure on the ``MonthClose`` row) when the statements do not add up.
    """
    moment = now()
    _refuse_off_calendar(month, moment)
    # The month's partitions, and the next month's for its usage import, before the close's
    # transaction: made in a moment of their own, their locks end at once (``partitions``).
    partitions.month_partitions_ensure([str(month), str(month.next())])
    failure: ReconciliationError | None = None
    result: CloseResult | None = None
    try:
        with transaction.atomic():
            _lock_month(month)
            record, _ = MonthClose.objects.select_for_update().get_or_create(
                billing_month=month, defaults={"started_at": moment, "closed_by": actor}
            )
            if record.status == MonthClose.Status.CONFIRMED:
                return _recorded_result(record, month)
            # Under the month's lock, after the idempotent answer: a confirmed month stays
            # "already confirmed" whatever is open before it.
            open_months = _refuse_out_of_order(month, force=force)
            try:
                with transaction.atomic():
                    campaigns = list(Campaign.objects.filter(grant_month=month).order_by("code"))
                    for campaign in campaigns:
                        _grant_campaign(campaign=campaign, month=month, moment=moment)
                    _insert_statements(month=month, moment=moment)
                    result = dataclasses.replace(
                        _tally(
                            month=month,
                            campaigns=campaigns,
                            outcome="dry_run" if dry_run else "confirmed",
                        ),
                        open_months=open_months,
                    )
            except ReconciliationError as error:
                failure = error
            if dry_run:
                raise _DryRunRollback
            if failure is not None:
                record.status = MonthClose.Status.FAILED
                record.error = str(failure)
                record.started_at = moment
                record.closed_by = actor
                record.save(update_fields=["status", "error", "started_at", "closed_by"])
                audit_record(
                    actor=actor,
                    action="statement_close_failed",
                    detail={"month": str(month), "error": str(failure), "force": force},
                )
            else:
                assert result is not None
                _record_confirmed(
                    record=record, result=result, actor=actor, moment=moment, force=force
                )
    except _DryRunRollback:
        if failure is not None:
            raise failure from None
        assert result is not None
        return result
    except DatabaseError as error:
        # The connection lost (a server restart) or a guard refused at commit: the transaction
        # undid every statement and grant; the month says so instead of keeping no trace.
        if not dry_run:
            _record_interrupted(month=month, actor=actor, moment=moment, force=force, error=error)
        raise
    if failure is not None:
        raise failure
    assert result is not None
    return result


def _record_interrupted(
    *, month: BillingMonth, actor: str, moment: dt.datetime, force: bool, error: DatabaseError
) -> None:
    """Record on the month, in a transaction of its own on a fresh connection, that its close
    failed on a database error and confirmed nothing. A confirmed month is left as it is."""
    text = str(error).strip()
    message = f"{type(error).__name__}: {text.splitlines()[0][:500] if text else ''}"
    connection_reopen_if_lost()
    try:
        with transaction.atomic():
            record, _ = MonthClose.objects.select_for_update().get_or_create(
                billing_month=month, defaults={"started_at": moment, "closed_by": actor}
            )
            if record.status == MonthClose.Status.CONFIRMED:
                return
            record.status = MonthClose.Status.FAILED
            record.error = message
            record.started_at = moment
            record.closed_by = actor
            record.save(update_fields=["status", "error", "started_at", "closed_by"])
            audit_record(
                actor=actor,
                action="statement_close_failed",
                detail={"month": str(month), "error": message, "force": force},
            )
    except DatabaseError as lost:
        # Still no database: nothing was confirmed, and the operator hears of the first error.
        logger.error("close of %s: its failure could not be recorded: %s", month, lost)


def _record_confirmed(
    *, record: MonthClose, result: CloseResult, actor: str, moment: dt.datetime, force: bool
) -> None:
    record.status = MonthClose.Status.CONFIRMED
    record.started_at = record.started_at or moment
    record.confirmed_at = moment
    record.closed_by = actor
    record.statements = result.statements
    record.web_statements = result.web_statements
    record.paper_statements = result.paper_statements
    record.fees = result.fees
    record.usage_total = result.usage_total
    record.fee_total = result.fee_total
    record.statement_total = result.statement_total
    record.points_granted = result.points_granted
    record.error = ""
    record.save()
    audit_record(
        actor=actor,
        action="statement_close",
        detail={
            "month": str(result.month),
            "statements": result.statements,
            "web": result.web_statements,
            "paper": result.paper_statements,
            "fees": result.fees,
            "fee_total": result.fee_total,
            "usage_total": result.usage_total,
            "statement_total": result.statement_total,
            "grants": result.grants,
            "points_granted": result.points_granted,
            # Asked to close past open earlier months, and which ones it did (month_rules).
            "force": force,
            "open_months": [str(m) for m in result.open_months],
        },
    )
