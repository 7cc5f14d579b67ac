"""Reading the audit trail for auditors (SPEC 3.10): the search, its CSV, and the rows that
record each look at it.

The trail is append-only (``audit/triggers.py``), so a search is a plain filtered read. Looking
at the trail is itself audited: every page shown writes an ``audit_view`` row and every export an
``audit_export`` row, each with the filter used and the number of rows found. An export reads a
snapshot (the rows up to the newest id when it started), so the count in its audit row is the
number of rows in the file, whatever is written meanwhile.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max, QuerySet

from meisai.audit.models import AuditEntry
from meisai.audit.services import audit_record
from meisai.clock import JST, jst
from meisai.statements.csv_export import neutralise

CSV_HEADER: list[str | int] = ["日時", "実行者", "操作", "会員番号", "接続元", "詳細"]


@dataclass(frozen=True)
class AuditFilter:
    """What the auditor searched for; empty fields match everything. Dates are JST days, both
    ends inclusive."""

    member_no: str = ""
    actor: str = ""
    action: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def as_detail(self) -> dict[str, str]:
        """The filter as the audit row keeps it (only what was given)."""
        given = {
            "member_no": self.member_no,
            "actor": self.actor,
            "action": self.action,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
        }
        return {key: value for key, value in given.items() if value}


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=JST)


def audit_entries(*, filters: AuditFilter) -> QuerySet[AuditEntry]:
    """The rows matching ``filters``, newest first, with their member."""
    entries = AuditEntry.objects.select_related("member").order_by("-at", "-id")
    if filters.member_no:
        entries = entries.filter(member__member_no=filters.member_no)
    if filters.actor:
        entries = entries.filter(actor__iexact=filters.actor)
    if filters.action:
        entries = entries.filter(action=filters.action)
    if filters.date_from:
        entries = entries.filter(at__gte=_day_start(filters.date_from))
    if filters.date_to:
        entries = entries.filter(at__lt=_day_start(filters.date_to + dt.timedelta(days=1)))
    return entries


def audit_actions() -> list[str]:
    """Every action the trail holds, for the search form's choice."""
    return list(AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct())


def detail_text(entry: AuditEntry) -> str:
    return json.dumps(entry.detail, ensure_ascii=False, sort_keys=True)


def audit_trail_view_record(
    *, actor: str, filters: AuditFilter, page: int, rows: int, client_ip: str | None
) -> AuditEntry:
    """Record that ``actor`` looked at a page of the trail."""
    return audit_record(
        actor=actor,
        action="audit_view",
        detail={"filter": filters.as_detail(), "page": page, "rows": rows},
        client_ip=client_ip,
    )


@dataclass(frozen=True)
class AuditExport:
    """An export ready to stream: its rows are fixed, its audit row is written."""

    entries: QuerySet[AuditEntry]
    rows: int
    encoding: str

    def csv_rows(self) -> Iterator[list[str | int]]:
        yield list(CSV_HEADER)
        for entry in self.entries.iterator(chunk_size=1000):
            yield [
                neutralise(cell, encoding=self.encoding)
                for cell in (
                    jst(entry.at).strftime("%Y-%m-%d %H:%M:%S"),
                    entry.actor,
                    entry.action,
                    entry.member.member_no if entry.member else "",
                    entry.client_ip or "",
                    detail_text(entry),
                )
            ]


@transaction.atomic
def audit_trail_export(
    *, actor: str, filters: AuditFilter, encoding: str, client_ip: str | None
) -> AuditExport:
    """Fix the rows of an export and record it (``audit_export``: filter, rows, encoding)."""
    newest: Any = AuditEntry.objects.aggregate(newest=Max("id"))["newest"] or 0
    entries = audit_entries(filters=filters).filter(id__lte=newest)
    rows = entries.count()
    audit_record(
        actor=actor,
        action="audit_export",
        detail={"filter": filters.as_detail(), "rows": rows, "encoding": encoding},
        client_ip=client_ip,
    )
    return AuditExport(entries=entries, rows=rows, encoding=encoding)
