"""Every kept import leaves one audit row, written in the transaction of the rows it keeps.

The row says who (the batch's actor), what (``import_<kind>``) and, in ``detail``, the file, its
SHA-256, the counts and the batch, as the ``ImportBatch`` records them. A run that keeps nothing
(a dry run, a refused file, the same file again) leaves none.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import DatabaseError

from meisai.audit.models import AuditEntry
from meisai.imports.models import ImportBatch
from meisai.statements.models import UsageLine
from tests.imports.conftest import (
    CARD_1,
    CARD_2,
    CARD_3,
    ENROLLMENTS_HEADER,
    MEMBERS_HEADER,
    POINTS_HEADER,
    PRODUCTS_HEADER,
    USAGE_HEADER,
    member_row,
    usage_row,
)

pytestmark = pytest.mark.django_db

HASH = PBKDF2PasswordHasher().encode("legacy-pass-2024", "fixedsalt123", iterations=1000)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _audit_trail(*actions: str) -> list[tuple]:
    """The audit rows, oldest first; only those of ``actions`` when given."""
    entries = AuditEntry.objects.order_by("id")
    if actions:
        entries = entries.filter(action__in=actions)
    return list(entries.values_list("actor", "action", "member", "detail"))


def _expected(path: Path, kind: str, rows: int, inserted: int, updated: int = 0) -> tuple:
    batch = ImportBatch.objects.get(kind=kind, file_sha256=_sha256(path), status="done")
    return (
        "test",
        f"import_{kind}",
        None,
        {
            "file": str(path),
            "sha256": _sha256(path),
            "counts": {"rows": rows, "inserted": inserted, "updated": updated},
            "batch": batch.pk,
        },
    )


@pytest.fixture
def members(importer):
    importer.products()
    importer.members(member_row("M0000001", CARD_1))


def test_each_kind_of_import_writes_one_audit_row_with_its_file_and_counts(importer):
    products = importer.write(PRODUCTS_HEADER, "STD,日専連カード,0", "IRIS,IRISカード,1")
    importer.run("products", products)
    members = importer.write(
        MEMBERS_HEADER,
        member_row("M0000001", CARD_1),
        member_row("M0000001", CARD_3),
        member_row("M0000002", CARD_2, name="花巻 花子", kana="ハナマキ ハナコ"),
    )
    importer.run("members", members)
    enrollments = importer.write(
        ENROLLMENTS_HEADER,
        f"M0000001,Taro.Morioka,{HASH},さくら,taro@example.jp,2023-06-01 10:30:00",
    )
    importer.run("enrollments", enrollments)
    usage = importer.write(USAGE_HEADER, usage_row(), usage_row(line_no="2"), usage_row("M0000002"))
    importer.run("usage", usage)
    points = importer.write(POINTS_HEADER, "M0000001,2025-03-31,1200,200,2025-06-30")
    importer.run("points", points)
    corrected = importer.write(POINTS_HEADER, "M0000001,2025-03-31,1300,200,2025-06-30")
    importer.run("points", corrected)

    assert _audit_trail() == [
        _expected(products, "products", rows=2, inserted=2),
        # The member file counts members: three rows, two members.
        _expected(members, "members", rows=3, inserted=2),
        _expected(enrollments, "enrollments", rows=1, inserted=1),
        _expected(usage, "usage", rows=3, inserted=3),
        _expected(points, "points", rows=1, inserted=1),
        _expected(corrected, "points", rows=1, inserted=0, updated=1),
    ]


def test_a_dry_run_writes_no_audit_row(importer, members):
    before = _audit_trail()
    importer.run("usage", importer.write(USAGE_HEADER, usage_row()), "--dry-run")
    assert _audit_trail() == before
    assert ImportBatch.objects.get(kind="usage").status == "dry_run"


def test_a_refused_file_leaves_no_audit_row_and_its_batch_records_the_failure(importer, members):
    before = _audit_trail()
    path = importer.write(USAGE_HEADER, usage_row(), usage_row(line_no="2", use_date="2025-02-30"))
    lines = importer.refused("usage", path)
    assert _audit_trail() == before
    assert UsageLine.objects.count() == 0
    batch = ImportBatch.objects.get(kind="usage")
    assert (batch.status, batch.error_count, batch.errors, batch.rows, batch.inserted) == (
        "failed",
        1,
        lines[0],
        0,
        0,
    )


def test_the_same_file_again_writes_no_second_audit_row(importer, members):
    path = importer.write(USAGE_HEADER, usage_row())
    importer.run("usage", path)
    importer.run("usage", path)
    assert _audit_trail("import_usage") == [_expected(path, "usage", rows=1, inserted=1)]
    assert list(
        ImportBatch.objects.filter(kind="usage").order_by("id").values_list("status", flat=True)
    ) == ["done", "unchanged"]


def test_an_import_whose_audit_row_cannot_be_written_keeps_nothing(importer, members, monkeypatch):
    def audit_trail_unavailable(**kwargs: object) -> None:
        raise DatabaseError("the audit trail cannot be written")

    monkeypatch.setattr("meisai.imports.services.audit_record", audit_trail_unavailable)
    path = importer.write(USAGE_HEADER, usage_row(), usage_row(line_no="2"))
    assert importer.refused("usage", path) == [
        f"{path}: the import stopped on an unexpected error, nothing was kept "
        "(DatabaseError: the audit trail cannot be written)"
    ]
    # The rows and their audit row are one transaction: no record, no rows; the batch says why.
    assert UsageLine.objects.count() == 0
    assert ImportBatch.objects.get(file_name=str(path)).status == ImportBatch.Status.FAILED
