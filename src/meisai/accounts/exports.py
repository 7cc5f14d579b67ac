"""``meisai export enrollments --since DATETIME -o FILE``: new and changed 本人認証サービス
enrolments for the 3-D Secure access control server (SPEC 3.9).

One row per enrolment whose ``updated_at`` is at or after ``--since``: registrations, legacy
imports and revocations (re-registration revokes the old enrolment). Never a password, never a
card number: the card is named by its last four digits beside the member number.
"""

from __future__ import annotations

import csv
import datetime as dt

from meisai.accounts.models import Enrollment
from meisai.audit.services import audit_record, file_sha256
from meisai.clock import JST, jst

COLUMNS = [
    "member_no",
    "login_id",
    "card_last4",
    "status",
    "source",
    "enrolled_at",
    "updated_at",
]


def parse_since(text: str | None) -> dt.datetime:
    """ISO 8601 date or date-time; Japan time when it carries no offset."""
    if not text:
        raise ValueError("enrollments needs --since DATETIME (e.g. 2024-11-13T05:00)")
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise ValueError(f"--since: not an ISO 8601 date-time: {text!r}") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=JST)


def export_enrollments(
    *, month: str | None, since: str | None, output: str, encoding: str = "cp932", actor: str
) -> int:
    """Write the enrolments changed since ``since``; returns the number of rows."""
    if month:
        raise ValueError(f"enrollments takes no billing month (got {month!r}); use --since")
    moment = parse_since(since)
    rows = (
        Enrollment.objects.filter(updated_at__gte=moment)
        .select_related("member", "card")
        .order_by("updated_at", "id")
    )
    count = 0
    with open(output, "w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for enrollment in rows.iterator(chunk_size=2000):
            writer.writerow(
                [
                    enrollment.member.member_no,
                    enrollment.login_id,
                    enrollment.card.last4 if enrollment.card else "",
                    enrollment.status,
                    enrollment.source,
                    jst(enrollment.enrolled_at).isoformat(timespec="seconds"),
                    jst(enrollment.updated_at).isoformat(timespec="seconds"),
                ]
            )
            count += 1
    audit_record(
        actor=actor,
        action="export_enrollments",
        detail={
            "since": moment.isoformat(),
            "file": output,
            "sha256": file_sha256(output),
            "rows": count,
        },
    )
    return count
