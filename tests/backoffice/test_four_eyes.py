"""Four eyes (ASVS 2.3.5): a publication and a re-import of a month are requested by one staff
member and carried out only when another approves; the requester's own approval is refused."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError

from meisai.audit.models import AuditEntry
from meisai.backoffice.models import ApprovalRequest
from meisai.backoffice.roles import Role
from meisai.clock import JST
from meisai.core.models import Job
from meisai.statements.models import MonthClose, Statement, UsageLine
from tests.backoffice.conftest import signed_in, staff_account
from tests.factories import AccountFactory, MemberFactory, UsageLineFactory
from tests.imports.conftest import USAGE_HEADER, usage_row
from tests.statements.cycle import close

pytestmark = pytest.mark.django_db

CONFIRMATION_DAY = dt.datetime(2025, 6, 13, 9, 0, tzinfo=JST)


@pytest.fixture
def june_closed():
    account = AccountFactory(member=MemberFactory(member_no="M0000601"))
    UsageLineFactory(member=account.member, billing_month="2025-06", billed_amount=5400)
    UsageLineFactory(member=MemberFactory(member_no="M0000602"), billing_month="2025-06")
    close("2025-06")


def _actions() -> list[tuple[str, str]]:
    return list(AuditEntry.objects.order_by("id").values_list("action", "actor"))


def _text(response) -> str:
    return response.content.decode()


@time_machine.travel(CONFIRMATION_DAY, tick=False)
def test_a_publication_runs_only_when_a_second_staff_member_approves_it(
    june_closed, django_capture_on_commit_callbacks
):
    before = len(_actions())
    a = signed_in(staff_account(Role.OPERATOR, login_id="op-a"))
    b = signed_in(staff_account(Role.ADMINISTRATOR, login_id="admin-b"))

    asked = a.post("/backoffice/month/publish/", {"month": "2025-06", "reason": "確認日のため"})
    request = ApprovalRequest.objects.get()
    assert asked["Location"] == f"/backoffice/month/approvals/{request.pk}/"
    assert (request.kind, request.subject, request.state, request.requested_by.login_id) == (
        "publish",
        "2025-06",
        "pending",
        "op-a",
    )

    # The requester sees what will run, and no button to approve it.
    own_page = _text(a.get(asked["Location"]))
    assert 'id="own-request"' in own_page
    assert "承認して実行" not in own_page
    # The requester's own approval is refused, recorded, and publishes nothing.
    with django_capture_on_commit_callbacks(execute=True):
        refused = a.post(f"/backoffice/month/approvals/{request.pk}/grant/", follow=True)
    assert "ご自身の依頼は承認できません。別のスタッフの承認が必要です。" in _text(refused)
    request.refresh_from_db()
    assert (request.state, request.decided_by, request.job) == ("pending", None, None)
    assert Statement.objects.filter(published_at__isnull=False).count() == 0
    assert MonthClose.objects.get().published_at is None
    assert Job.objects.count() == 0

    # The approver sees the month and its figures before approving.
    approver_page = _text(b.get(f"/backoffice/month/approvals/{request.pk}/"))
    assert "meisai publish 2025-06" in approver_page
    assert "2件(WEB 0 / 紙 2)" in approver_page
    assert "承認して実行" in approver_page

    with django_capture_on_commit_callbacks(execute=True):
        b.post(f"/backoffice/month/approvals/{request.pk}/grant/", {"reason": "数字を確認"})

    request.refresh_from_db()
    job = Job.objects.get(kind="approval_publish")
    assert (request.state, request.decided_by.login_id, request.job, request.decision_note) == (
        "done",
        "admin-b",
        job,
        "数字を確認",
    )
    assert (job.kind, job.status, job.actor, job.counts["statements_published"]) == (
        "approval_publish",
        "done",
        "admin-b",
        2,
    )
    assert Statement.objects.filter(published_at__isnull=True).count() == 0
    assert MonthClose.objects.get().published_by == "admin-b"
    assert _actions()[before:] == [
        ("approval_request", "op-a"),
        ("approval_grant_refused", "op-a"),
        ("approval_grant", "admin-b"),
        ("statement_publish", "admin-b"),
        ("approval_execute", "admin-b"),
    ]
    execution = AuditEntry.objects.get(action="approval_execute").detail
    assert (execution["requested_by"], execution["approved_by"], execution["emails_queued"]) == (
        "op-a",
        "admin-b",
        1,
    )


@time_machine.travel(CONFIRMATION_DAY, tick=False)
def test_a_refused_request_runs_nothing_and_cannot_be_approved_afterwards(
    june_closed, django_capture_on_commit_callbacks
):
    a = signed_in(staff_account(Role.OPERATOR, login_id="op-a"))
    b = signed_in(staff_account(Role.OPERATOR, login_id="op-b"))
    c = signed_in(staff_account(Role.ADMINISTRATOR, login_id="admin-c"))
    a.post("/backoffice/month/publish/", {"month": "2025-06"})
    request = ApprovalRequest.objects.get()

    b.post(f"/backoffice/month/approvals/{request.pk}/refuse/", {"reason": "まだ早い"})
    with django_capture_on_commit_callbacks(execute=True):
        late = c.post(f"/backoffice/month/approvals/{request.pk}/grant/", follow=True)

    request.refresh_from_db()
    assert (request.state, request.decided_by.login_id, request.decision_note) == (
        "refused",
        "op-b",
        "まだ早い",
    )
    assert f"依頼 #{request.pk} はすでに却下です。" in _text(late)
    assert Statement.objects.filter(published_at__isnull=False).count() == 0
    assert Job.objects.count() == 0
    refusal = AuditEntry.objects.get(action="approval_refuse")
    assert (refusal.actor, refusal.detail["requested_by"]) == ("op-b", "op-a")


@time_machine.travel(CONFIRMATION_DAY, tick=False)
def test_one_month_has_one_pending_publication_and_an_unclosed_month_none(june_closed):
    a = signed_in(staff_account(Role.OPERATOR, login_id="op-a"))

    a.post("/backoffice/month/publish/", {"month": "2025-06"})
    again = a.post("/backoffice/month/publish/", {"month": "2025-06"}, follow=True)
    unclosed = a.post("/backoffice/month/publish/", {"month": "2025-07"}, follow=True)

    assert "2025-06 には承認待ちの依頼がすでにあります。" in _text(again)
    assert "2025年7月請求分はまだ締め処理が完了していないため公開できません。" in _text(unclosed)
    assert ApprovalRequest.objects.count() == 1
    assert AuditEntry.objects.filter(action="approval_request").count() == 1


def test_the_database_refuses_a_decision_by_the_requester(db):
    staff = staff_account(Role.OPERATOR, login_id="op-a")
    request = ApprovalRequest.objects.create(
        kind="publish", subject="2025-06", requested_by=staff, requested_at=CONFIRMATION_DAY
    )
    request.state, request.decided_by = "approved", staff

    with pytest.raises(IntegrityError):
        request.save()


def _upload(client, capture, name: str, *rows: str, append: bool = False):
    file = SimpleUploadedFile(name, ("\n".join([USAGE_HEADER, *rows]) + "\n").encode())
    data = {"kind": "usage", "file": file, **({"append": "on"} if append else {})}
    with capture(execute=True):
        return client.post("/backoffice/month/imports/", data)


def test_lines_added_to_an_imported_month_need_append_and_a_second_staff_member(
    django_capture_on_commit_callbacks,
):
    member = MemberFactory(member_no="M0000001")
    UsageLineFactory(member=member, billing_month="2025-01", line_no=1)
    a = signed_in(staff_account(Role.OPERATOR, login_id="op-a"))
    b = signed_in(staff_account(Role.OPERATOR, login_id="op-b"))
    rows = (usage_row(line_no="7"), usage_row(line_no="8"))

    # Without --append the importer itself refuses the file (its dry run says why).
    plain = _upload(a, django_capture_on_commit_callbacks, "usage-2025-01-extra.csv", *rows)
    plain_page = _text(a.get(plain["Location"]))
    assert "usage-2025-01-extra.csv: billing month 2025-01 already holds the lines" in plain_page
    assert "needs --append" in plain_page
    assert "<button" not in plain_page.split('id="report"', 1)[1]

    uploaded = _upload(
        a, django_capture_on_commit_callbacks, "usage-2025-01-extra.csv", *rows, append=True
    )
    dry_run = Job.objects.get(pk=int(uploaded["Location"].rstrip("/").split("/")[-1]))
    page = _text(a.get(uploaded["Location"]))
    assert (dry_run.counts["status"], dry_run.counts["reimport"]) == ("dry_run", ["2025-01"])
    assert "追加取込(--append)には別のスタッフの承認が必要です。" in page
    assert "本番の取込を実行" not in page

    # Straight to the import (a hand-made POST) is refused as well.
    direct = a.post(f"/backoffice/month/jobs/{dry_run.pk}/import/", follow=True)
    assert "追加取込(--append)には別のスタッフの承認が必要です。" in _text(direct)
    a.post(f"/backoffice/month/jobs/{dry_run.pk}/reimport/", {"reason": "追加分"})
    request = ApprovalRequest.objects.get()
    assert (request.kind, request.args["months"], request.args["append"]) == (
        "append",
        ["2025-01"],
        True,
    )
    assert UsageLine.objects.count() == 1
    approver_page = _text(b.get(f"/backoffice/month/approvals/{request.pk}/"))
    assert "meisai import usage usage-2025-01-extra.csv --append" in approver_page
    assert "usage-2025-01-extra.csv: checked (dry run, nothing kept): 2 rows" in approver_page

    with django_capture_on_commit_callbacks(execute=True):
        a.post(f"/backoffice/month/approvals/{request.pk}/grant/")
    assert UsageLine.objects.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        b.post(f"/backoffice/month/approvals/{request.pk}/grant/")

    request.refresh_from_db()
    assert (request.state, request.result["inserted"]) == ("done", 2)
    assert sorted(UsageLine.objects.values_list("line_no", flat=True)) == [1, 7, 8]
    assert [action for action, _ in _actions() if action.startswith(("approval", "import"))] == [
        "approval_request",
        "approval_grant_refused",
        "approval_grant",
        "import_usage",
        "approval_execute",
    ]
    imported = AuditEntry.objects.get(action="import_usage")
    assert (imported.actor, imported.detail.get("append")) == ("op-b", True)


@time_machine.travel(CONFIRMATION_DAY, tick=False)
def test_an_auditor_reads_a_request_but_can_neither_approve_nor_refuse_it(june_closed):
    a = signed_in(staff_account(Role.OPERATOR, login_id="op-a"))
    auditor = signed_in(staff_account(Role.AUDITOR, login_id="audit-c"))
    a.post("/backoffice/month/publish/", {"month": "2025-06"})
    request = ApprovalRequest.objects.get()

    page = _text(auditor.get(f"/backoffice/month/approvals/{request.pk}/"))
    granted = auditor.post(f"/backoffice/month/approvals/{request.pk}/grant/")
    refused = auditor.post(f"/backoffice/month/approvals/{request.pk}/refuse/")

    assert "meisai publish 2025-06" in page
    assert "<button" not in page.split("<main", 1)[1]
    assert (granted.status_code, refused.status_code) == (403, 403)
    request.refresh_from_db()
    assert request.state == "pending"
    assert not AuditEntry.objects.filter(actor="audit-c").exists()
