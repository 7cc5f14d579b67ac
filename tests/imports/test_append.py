"""A month's usage lines come in one file (SPEC 4.3): a second file that adds lines to a month an
earlier file already filled is refused, unless it is the same file (a no-op) or the operator says
so with ``--append`` (audited)."""

from __future__ import annotations

import pytest

from meisai.audit.models import AuditEntry
from meisai.imports.models import ImportBatch
from meisai.statements.models import UsageLine
from tests.imports.conftest import CARD_1, CARD_2, USAGE_HEADER, member_row, usage_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def first_file(importer):
    importer.products()
    importer.members(member_row("M0000001", CARD_1), member_row("M0000002", CARD_2))
    path = importer.write(USAGE_HEADER, usage_row(line_no="1"), usage_row(line_no="2"))
    importer.run("usage", path)
    return path


def test_a_second_file_for_a_filled_month_is_refused_and_keeps_nothing(importer, first_file):
    second = importer.write(
        USAGE_HEADER, usage_row(line_no="3"), usage_row(member_no="M0000002", month="2025-02")
    )
    assert importer.refused("usage", second) == [
        f"{second}: billing month 2025-01 already holds the lines of an earlier file "
        f"({first_file}): adding lines to it needs --append (a correction of a confirmed month "
        "goes into a later month)"
    ]
    assert UsageLine.objects.count() == 2
    assert ImportBatch.objects.filter(kind="usage", status=ImportBatch.Status.FAILED).count() == 1


def test_with_append_the_lines_are_added_and_the_audit_row_says_so(importer, first_file):
    second = importer.write(USAGE_HEADER, usage_row(line_no="2"), usage_row(line_no="3"))
    importer.run("usage", second, "--append")
    assert UsageLine.objects.filter(billing_month="2025-01").count() == 3
    audit = AuditEntry.objects.filter(action="import_usage").latest("pk")
    assert audit.detail["append"] is True
    first = AuditEntry.objects.filter(action="import_usage").earliest("pk")
    assert "append" not in first.detail


def test_the_same_file_again_changes_nothing_without_append(importer, first_file):
    assert "already imported" in importer.run("usage", first_file)
    assert UsageLine.objects.count() == 2


def test_a_file_of_another_month_needs_nothing(importer, first_file):
    importer.run("usage", importer.write(USAGE_HEADER, usage_row(month="2025-02")))
    assert UsageLine.objects.filter(billing_month="2025-02").count() == 1
