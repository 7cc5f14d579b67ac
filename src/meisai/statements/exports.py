"""Files for the core system after the close (SPEC 3.6, 4.1): the paper print list and the fees.

``meisai export paper-list YYYY-MM -o FILE`` and ``meisai export fees YYYY-MM -o FILE`` call
these. CSV with a header row, CRLF line ends, cp932 by default (the core system and Excel on
Japanese Windows); rows ordered by member number so the same month gives the same bytes every
time. A character cp932 cannot hold is written as its closest cp932 form or as 〓
(``meisai.core.cp932``), so an export never fails on a name and the gap stays visible.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from meisai import billing_calendar as cal
from meisai.audit.services import audit_record, file_sha256
from meisai.billing_calendar import BillingMonth
from meisai.core import cp932
from meisai.statements.models import MonthClose, Statement

PAPER_LIST_HEADER = (
    "member_no",
    "name_kanji",
    "name_kana",
    "postal_code",
    "address",
    "statement_total",
    "billing_month",
)
FEES_HEADER = ("member_no", "billing_month", "amount", "net", "tax")


def _confirmed_month(month: str | None) -> BillingMonth:
    if not month:
        raise ValueError("請求月(YYYY-MM)を指定してください。")
    billing = BillingMonth.parse(month)
    if not MonthClose.objects.filter(
        billing_month=billing, status=MonthClose.Status.CONFIRMED
    ).exists():
        raise ValueError(
            f"{billing.label}はまだ締め処理が完了していないため出力できません"
            f"(先に meisai close {billing} を実行してください)。"
        )
    return billing


def _write_csv(
    *, output: str, encoding: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> int:
    if encoding not in ("cp932", "utf-8"):
        raise ValueError(f"unsupported encoding {encoding!r} (cp932 or utf-8)")
    count = 0
    path = Path(output)
    errors = cp932.ERRORS if encoding == "cp932" else "strict"
    with path.open("w", encoding=encoding, errors=errors, newline="") as file:
        writer = csv.writer(file, lineterminator="\r\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def _audit_export(*, action: str, actor: str, month: BillingMonth, output: str, rows: int) -> None:
    audit_record(
        actor=actor,
        action=action,
        detail={"month": str(month), "file": output, "sha256": file_sha256(output), "rows": rows},
    )


def export_paper_list(
    *, month: str | None, since: str | None = None, output: str, encoding: str = "cp932", actor: str
) -> int:
    """Members whose statement of ``month`` goes on paper, with their postal data and total."""
    billing = _confirmed_month(month)
    rows = (
        Statement.objects.filter(billing_month=billing, delivery=Statement.Delivery.PAPER)
        .order_by("member__member_no")
        .values_list(
            "member__member_no",
            "member__name_kanji",
            "member__name_kana",
            "member__postal_code",
            "member__address",
            "total",
            "billing_month",
        )
        .iterator(chunk_size=5000)
    )
    count = _write_csv(output=output, encoding=encoding, header=PAPER_LIST_HEADER, rows=rows)
    _audit_export(action="export_paper_list", actor=actor, month=billing, output=output, rows=count)
    return count


def export_fees(
    *, month: str | None, since: str | None = None, output: str, encoding: str = "cp932", actor: str
) -> int:
    """Members charged the paper fee in ``month``: amount and its net/tax split (SPEC 3.3)."""
    billing = _confirmed_month(month)
    net, tax = cal.paper_fee_amount()
    rows = list(
        Statement.objects.filter(billing_month=billing, fee_total__gt=0)
        .order_by("member__member_no")
        .values_list("member__member_no", "billing_month", "fee_total")
    )
    mismatched = sorted({amount for _, _, amount in rows if amount != net + tax})
    if mismatched:
        # The split comes from the configuration; a fee charged under another configuration
        # cannot be split honestly, so say so instead of writing wrong tax figures.
        raise ValueError(
            f"{billing.label}: 手数料 {', '.join(f'{a}円' for a in mismatched)} は現在の設定"
            f"({net}円 + 税{tax}円)と一致しないため、税抜・税額に分けられません。"
        )
    count = _write_csv(
        output=output,
        encoding=encoding,
        header=FEES_HEADER,
        rows=((member_no, month_text, amount, net, tax) for member_no, month_text, amount in rows),
    )
    _audit_export(action="export_fees", actor=actor, month=billing, output=output, rows=count)
    return count
