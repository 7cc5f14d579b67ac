"""The month from the browser (``/backoffice/month/``): an upload is dry-run first and reports
as ``meisai import`` does, the close shows its dry-run figures before it is confirmed, exports
download and are audited, and an auditor sees it all without a button."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from meisai.audit.models import AuditEntry
from meisai.backoffice.roles import Role
from meisai.clock import JST
from meisai.core.models import Job
from meisai.imports.models import ImportBatch
from meisai.statements.models import MonthClose, Statement, UsageLine
from tests.backoffice.conftest import signed_in, staff_account
from tests.factories import MemberFactory, UsageLineFactory
from tests.imports.conftest import USAGE_HEADER, usage_row
from tests.statements.cycle import close as close_month

pytestmark = pytest.mark.django_db

MONTH_URL = "/backoffice/month/"
AFTER_JUNE_CUTOFF = dt.datetime(2025, 6, 11, 12, 0, tzinfo=JST)


def _csv(name: str, *rows: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, ("\n".join([USAGE_HEADER, *rows]) + "\n").encode())


def _upload(client, capture, file: SimpleUploadedFile, kind: str = "usage"):
    with capture(execute=True):
        response = client.post(reverse("backoffice:month_upload"), {"kind": kind, "file": file})
    assert response.status_code == 302
    return response


def _text(response) -> str:
    return response.content.decode()


def test_the_month_page_is_in_the_console_menu(staff_client):
    response = staff_client(Role.OPERATOR).get(MONTH_URL)

    assert response.status_code == 200
    assert f'href="{MONTH_URL}"' in _text(response)
    assert 'action="/backoffice/month/imports/"' in _text(response)


def test_a_bad_file_is_reported_line_by_line_as_the_command_line_does_and_nothing_is_kept(
    staff_client, django_capture_on_commit_callbacks, settings
):
    MemberFactory(member_no="M0000001")
    client = staff_client(Role.OPERATOR)
    bad = _csv(
        "usage-2025-01.csv",
        usage_row(line_no="1"),
        usage_row(line_no="2", use_date="2025-02-30"),
        usage_row(line_no="3", use_amount="3980.5"),
    )

    response = _upload(client, django_capture_on_commit_callbacks, bad)

    job = Job.objects.get()
    assert response["Location"] == f"/backoffice/month/jobs/{job.pk}/"
    assert (job.kind, job.status, job.actor, job.counts["status"]) == (
        "import_dry_run",
        "done",
        "staff-operator",
        "failed",
    )
    # Stored under a generated name in MEDIA_ROOT/imports, not under the browser's name.
    stored = job.args["path"]
    assert stored.startswith(f"{settings.MEDIA_ROOT}/imports/") and stored.endswith(".csv")
    assert "usage-2025-01" not in stored
    page = _text(client.get(response["Location"]))
    assert (
        '<pre id="report">'
        "usage-2025-01.csv:3: column use_date: value &#x27;2025-02-30&#x27;: no such date\n"
        "usage-2025-01.csv:4: column use_amount: value &#x27;3980.5&#x27;: has a decimal point: "
        "amounts are whole yen\n"
        "usage-2025-01.csv: 2 problem(s); nothing was imported\n</pre>"
    ) in page
    assert "本番の取込を実行" not in page
    assert UsageLine.objects.count() == 0


def test_a_good_file_is_dry_run_then_imported_for_real(
    staff_client, django_capture_on_commit_callbacks
):
    MemberFactory(member_no="M0000001")
    client = staff_client(Role.OPERATOR)
    good = _csv("usage-2025-01.csv", usage_row(line_no="1"), usage_row(line_no="2"))

    response = _upload(client, django_capture_on_commit_callbacks, good)
    dry_run = Job.objects.get()
    page = _text(client.get(response["Location"]))

    assert (
        "usage-2025-01.csv: checked (dry run, nothing kept): 2 rows; rows: 2 new, 0 updated, "
        "0 unchanged"
    ) in page
    assert f'action="/backoffice/month/jobs/{dry_run.pk}/import/"' in page
    assert UsageLine.objects.count() == 0

    with django_capture_on_commit_callbacks(execute=True):
        imported = client.post(f"/backoffice/month/jobs/{dry_run.pk}/import/")

    job = Job.objects.get(kind="import")
    assert imported["Location"] == f"/backoffice/month/jobs/{job.pk}/"
    assert (job.status, job.counts["inserted"], job.counts["status"]) == ("done", 2, "done")
    assert UsageLine.objects.filter(billing_month="2025-01").count() == 2
    batch = ImportBatch.objects.get(status="done")
    assert batch.actor == "staff-operator"
    assert AuditEntry.objects.filter(action="import_usage", actor="staff-operator").count() == 1
    assert AuditEntry.objects.filter(action="job_request", actor="staff-operator").count() == 2
    assert "usage-2025-01.csv: imported: 2 rows" in _text(client.get(imported["Location"]))


def test_binary_and_oversized_files_are_refused_before_anything_is_stored(
    staff_client, django_capture_on_commit_callbacks, settings
):
    client = staff_client(Role.OPERATOR)
    xlsx = SimpleUploadedFile("usage.xlsx", b"PK\x03\x04" + b"\x00" * 100)

    refused = client.post(
        reverse("backoffice:month_upload"), {"kind": "usage", "file": xlsx}, follow=True
    )
    settings.MEISAI_IMPORT_UPLOAD_MAX_BYTES = 100
    too_large = client.post(
        reverse("backoffice:month_upload"),
        {"kind": "usage", "file": _csv("usage.csv", usage_row(), usage_row(line_no="2"))},
        follow=True,
    )

    assert "ZIP / Excel (.xlsx) のファイルです。" in _text(refused)
    assert "ファイルが大きすぎます(上限 0 MB)。" in _text(too_large)
    assert Job.objects.count() == 0
    assert ImportBatch.objects.count() == 0


@pytest.fixture
def june():
    """Two members with June usage: one on paper (no preference: paper, and the fee), one
    whose lines alone make the figures."""
    for member_no, amount in (("M0000601", 5400), ("M0000602", 1200)):
        UsageLineFactory(
            member=MemberFactory(member_no=member_no), billing_month="2025-06", billed_amount=amount
        )


def test_the_close_shows_its_dry_run_figures_before_the_confirm_button(
    june, django_capture_on_commit_callbacks
):
    with time_machine.travel(AFTER_JUNE_CUTOFF, tick=False):
        client = signed_in(staff_account(Role.OPERATOR))
        with django_capture_on_commit_callbacks(execute=True):
            asked = client.post("/backoffice/month/close/", {"month": "2025-06"})
        dry_run = Job.objects.get()
        page = _text(client.get(asked["Location"]))

        assert (dry_run.kind, dry_run.status, dry_run.counts["outcome"]) == (
            "close",
            "done",
            "dry_run",
        )
        assert MonthClose.objects.filter(status="confirmed").count() == 0
        assert Statement.objects.count() == 0
        assert "2025年6月請求分: ドライラン(書き込みなし)。" in page
        assert "  明細書: 2件 (WEB 0 / 紙 2)" in page
        assert "  紙明細発行手数料: 2件 合計 330円" in page
        assert "  請求額合計: 6,930円" in page
        assert "6,600円 = 請求額合計 6,930円 − 手数料 330円 … 一致" in page
        assert f'<input type="hidden" name="dry_run_job" value="{dry_run.pk}">' in page

        with django_capture_on_commit_callbacks(execute=True):
            confirmed = client.post(
                "/backoffice/month/close/", {"month": "2025-06", "dry_run_job": dry_run.pk}
            )

    job = Job.objects.exclude(pk=dry_run.pk).get()
    assert confirmed["Location"] == f"/backoffice/month/jobs/{job.pk}/"
    assert (job.status, job.counts["outcome"], job.actor) == ("done", "confirmed", "staff-operator")
    record = MonthClose.objects.get(billing_month="2025-06")
    assert (record.status, record.closed_by, record.statement_total) == (
        "confirmed",
        "staff-operator",
        6930,
    )


def test_the_close_is_confirmed_only_from_a_dry_run_of_the_same_month(
    june, django_capture_on_commit_callbacks
):
    with time_machine.travel(AFTER_JUNE_CUTOFF, tick=False):
        client = signed_in(staff_account(Role.OPERATOR))
        other = Job.objects.create(
            kind="close",
            args={"month": "2025-05", "dry_run": True},
            status="done",
            counts={"outcome": "dry_run"},
            queued_at=AFTER_JUNE_CUTOFF,
        )
        response = client.post(
            "/backoffice/month/close/", {"month": "2025-06", "dry_run_job": other.pk}, follow=True
        )

    assert "締めの確定は、同じ月のドライランの結果からだけ行えます。" in _text(response)
    assert MonthClose.objects.count() == 0
    assert Job.objects.count() == 1


def test_exports_download_and_are_audited_as_the_commands_are(june):
    close_month("2025-06")
    client = signed_in(staff_account(Role.OPERATOR))

    paper = client.post(
        "/backoffice/month/exports/",
        {"kind": "paper-list", "month": "2025-06", "encoding": "utf-8"},
    )
    fees = client.post(
        "/backoffice/month/exports/", {"kind": "fees", "month": "2025-06", "encoding": "cp932"}
    )
    enrollments = client.post(
        "/backoffice/month/exports/",
        {"kind": "enrollments", "since": "2024-11-13T05:00", "encoding": "utf-8"},
    )

    assert paper["Content-Disposition"] == 'attachment; filename="paper-list-2025-06.csv"'
    lines = b"".join(paper.streaming_content).decode().split("\r\n")
    assert lines[0] == (
        "member_no,name_kanji,name_kana,postal_code,address,statement_total,billing_month"
    )
    assert [line.split(",")[0] for line in lines[1:-1]] == ["M0000601", "M0000602"]
    fee_lines = b"".join(fees.streaming_content).decode("cp932").split("\r\n")
    assert fee_lines[1:-1] == ["M0000601,2025-06,165,150,15", "M0000602,2025-06,165,150,15"]
    assert b"".join(enrollments.streaming_content).decode().startswith("member_no,login_id")
    audited = AuditEntry.objects.filter(actor="staff-operator").order_by("id")
    assert [(e.action, e.detail["rows"]) for e in audited] == [
        ("export_paper_list", 2),
        ("export_fees", 2),
        ("export_enrollments", 0),
    ]


def test_an_export_before_the_close_is_refused_with_the_commands_reason(june):
    client = signed_in(staff_account(Role.OPERATOR))

    response = client.post(
        "/backoffice/month/exports/",
        {"kind": "fees", "month": "2025-06", "encoding": "cp932"},
        follow=True,
    )

    assert "2025年6月請求分はまだ締め処理が完了していないため出力できません" in _text(response)
    assert not AuditEntry.objects.filter(action="export_fees").exists()


def test_an_auditor_sees_the_month_without_a_button_and_every_post_is_refused(june, staff_client):
    close_month("2025-06")
    job = Job.objects.create(
        kind="close",
        args={"month": "2025-06", "dry_run": True},
        status="done",
        counts={"outcome": "dry_run", "month": "2025-06", "statements": 2},
        queued_at=AFTER_JUNE_CUTOFF,
        actor="someone",
    )
    client = staff_client(Role.AUDITOR)

    page = _text(client.get(MONTH_URL))
    job_page = _text(client.get(f"/backoffice/month/jobs/{job.pk}/"))
    posts = {
        url: client.post(url, {"month": "2025-06", "kind": "fees", "encoding": "cp932"}).status_code
        for url in (
            "/backoffice/month/imports/",
            f"/backoffice/month/jobs/{job.pk}/import/",
            f"/backoffice/month/jobs/{job.pk}/reimport/",
            "/backoffice/month/close/",
            "/backoffice/month/publish/",
            "/backoffice/month/approvals/1/grant/",
            "/backoffice/month/approvals/1/refuse/",
            "/backoffice/month/exports/",
        )
    }

    assert 'id="read-only"' in page
    assert '<form method="post" action="/backoffice/month/' not in page
    assert "2025-06" in page  # the closes and jobs are there to read
    assert "<button" not in job_page.split("<main", 1)[1]
    assert set(posts.values()) == {403}
    assert not AuditEntry.objects.exclude(action="statement_close").exists()
