"""A month's usage lines come in one file (SPEC 4.3): a second file that adds lines to a month an
earlier file already filled is refused, unless it is the same file (a no-op) or the operator says
so with ``--append`` (audited)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

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


def test_a_file_that_only_repeats_a_filled_months_lines_needs_nothing(importer, first_file):
    second = importer.write(
        USAGE_HEADER, usage_row(line_no="2"), usage_row(member_no="M0000002", month="2025-02")
    )
    importer.run("usage", second)
    assert UsageLine.objects.filter(billing_month="2025-01").count() == 2
    assert UsageLine.objects.filter(billing_month="2025-02").count() == 1


def test_a_file_of_new_months_does_not_read_its_lines_back(importer):
    # The check asks each month once, when a row first names it; before, it read back every
    # line the file had written to learn their months (ten million at a national issuer).
    importer.products()
    importer.members(member_row("M0000001", CARD_1))
    path = importer.write(
        USAGE_HEADER, *(usage_row(line_no=str(n)) for n in range(1, 6)), usage_row(month="2025-02")
    )
    with CaptureQueriesContext(connection) as captured:
        importer.run("usage", path)
    reads_of_lines = [
        query["sql"]
        for query in captured.captured_queries
        if query["sql"].startswith("SELECT") and '"statements_usageline"' in query["sql"]
    ]
    assert UsageLine.objects.count() == 6
    assert len(reads_of_lines) == 2, reads_of_lines  # one existence check per month
    assert not any("batch_id" in sql for sql in reads_of_lines)


def test_a_filled_month_first_named_after_staging_began_is_refused_too(
    importer, first_file, monkeypatch
):
    # Two rows a chunk: the first chunk's month (filled) starts the staging, and the third row
    # names another filled month only after it.
    monkeypatch.setattr("meisai.imports.formats.usage.rows.CHUNK_ROWS", 2)
    february = importer.write(USAGE_HEADER, usage_row(month="2025-02"))
    importer.run("usage", february)
    third = importer.write(
        USAGE_HEADER,
        usage_row(line_no="3"),
        usage_row(line_no="4"),
        usage_row(line_no="2", month="2025-02"),
    )
    problems = importer.refused("usage", third)
    assert [problem.split(": ", 1)[1].split(" already")[0] for problem in problems] == [
        "billing month 2025-01",
        "billing month 2025-02",
    ]
    assert UsageLine.objects.count() == 3
