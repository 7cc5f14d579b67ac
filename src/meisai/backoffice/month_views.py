"""The month from the browser (``/backoffice/month/``): imports, the close, publication, the
exports and every job.

Operators and administrators act; an auditor sees every page without its buttons, and a POST of
theirs is refused (403). Views parse the form, call one service (``backoffice.approvals``,
``backoffice.uploads``, the export functions of ``meisai export``) and redirect to the page that
shows the result: a job's page holds its report (the import's lines, the close's figures).

In the embedded default the workers' tasks run inline, after the request's transaction commits,
inside the service call: a refusal raised by the task itself then reaches the view, which shows
it as a message; the job page shows the same refusal from the job's record.
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST, require_safe

from meisai.accounts.models import Account
from meisai.backoffice import approvals, month_page
from meisai.backoffice.access import staff_required
from meisai.backoffice.models import ApprovalRequest
from meisai.backoffice.month_forms import (
    CloseForm,
    ExportForm,
    PublishRequestForm,
    ReasonForm,
    UploadForm,
)
from meisai.backoffice.roles import ACTING
from meisai.backoffice.tasks import ImportFailed
from meisai.backoffice.uploads import CappedUploadHandler, UploadRefused, max_bytes, upload_store
from meisai.billing_calendar import BillingMonth
from meisai.core.management.commands.export import EXPORTS
from meisai.core.models import Job
from meisai.imports.reading import ImportRefused
from meisai.statements.close import CloseResult

#: What a refused action raises, shown to the staff member as one message. Every one is a
#: ``ValueError`` (CloseRefused, PublishRefused, ApprovalRefused, ImportNeedsApproval,
#: UploadRefused), plus the import's own refusal and the console's failed import (inline).
REFUSALS: tuple[type[Exception], ...] = (ValueError, ImportRefused, ImportFailed)

acting = staff_required(*ACTING)


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {"can_act": request.staff_role in ACTING, **extra}  # type: ignore[attr-defined]


def _staff(request: HttpRequest) -> Account:
    """The signed-in staff member (``staff_required`` let only them in)."""
    return cast(Account, request.user)


def _attempt(request: HttpRequest, action: Callable[[], Any]) -> Any:
    """Run ``action``; a refusal becomes an error message and None."""
    try:
        return action()
    except REFUSALS as error:
        messages.error(request, str(error).splitlines()[0] if str(error) else type(error).__name__)
        return None


@staff_required()
@require_safe
def month(request: HttpRequest) -> HttpResponse:
    return TemplateResponse(
        request,
        "backoffice/month.html",
        _context(
            request,
            page=month_page.month_page(),
            upload_form=UploadForm(),
            close_form=CloseForm(),
            publish_form=PublishRequestForm(),
            export_form=ExportForm(),
            max_mb=max_bytes() // (1024 * 1024),
        ),
    )


@csrf_exempt
@acting
def upload(request: HttpRequest) -> HttpResponseBase:
    """The size cap must see the body before anything reads it, CSRF's check included: the
    handler goes in first, then the CSRF check runs (Django's documented pattern)."""
    handler = CappedUploadHandler(request)
    # Assigned, not inserted: Django refuses (AttributeError) once the body has been read.
    request.upload_handlers = [handler, *request.upload_handlers]
    return _upload(request, handler=handler)


@csrf_protect
@require_POST
def _upload(request: HttpRequest, *, handler: CappedUploadHandler) -> HttpResponseBase:
    files = request.FILES  # reads the body, through the capped handler
    if handler.too_large:
        messages.error(request, f"ファイルが大きすぎます(上限 {max_bytes() // (1024 * 1024)} MB)。")
        return redirect("backoffice:month")
    form = UploadForm(request.POST, files)
    if not form.is_valid():
        messages.error(request, "取込ファイルと種類を選んでください。")
        return redirect("backoffice:month")
    staff = _staff(request)
    try:
        stored = upload_store(uploaded=form.cleaned_data["file"])
    except UploadRefused as refused:
        messages.error(request, str(refused))
        return redirect("backoffice:month")
    job = _attempt(
        request,
        lambda: approvals.upload_dry_run_start(
            upload=stored,
            kind=form.cleaned_data["kind"],
            encoding=form.cleaned_data["encoding"] or None,
            append=form.cleaned_data["append"],
            staff=staff,
        ),
    )
    return redirect("backoffice:month_job", pk=job.pk) if job else redirect("backoffice:month")


def _job_or_404(pk: int) -> Job:
    job = month_page.job_by_id(pk)
    if job is None:
        raise Http404
    return job


@staff_required()
@require_safe
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_or_404(pk)
    close: CloseResult | None = month_page.close_result(job)
    return TemplateResponse(
        request,
        "backoffice/month_job.html",
        _context(
            request,
            job=job,
            report=month_page.import_report(job) if job.kind.startswith("import") else [],
            close=close,
            close_lines=close.report_lines() if close else [],
            reason_form=ReasonForm(),
        ),
    )


@acting
@require_POST
def import_start(request: HttpRequest, pk: int) -> HttpResponseBase:
    dry_run = _job_or_404(pk)
    job = _attempt(
        request,
        lambda: approvals.upload_import_start(dry_run=dry_run, staff=_staff(request)),
    )
    return redirect("backoffice:month_job", pk=job.pk if job else pk)


@acting
@require_POST
def reimport_request(request: HttpRequest, pk: int) -> HttpResponseBase:
    dry_run = _job_or_404(pk)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    asked = _attempt(
        request,
        lambda: approvals.import_approval_request(
            dry_run=dry_run, reason=reason, staff=_staff(request)
        ),
    )
    if asked:
        messages.success(request, f"取込の承認を依頼しました(依頼 #{asked.pk})。")
        return redirect("backoffice:month_approval", pk=asked.pk)
    return redirect("backoffice:month_job", pk=pk)


@acting
@require_POST
def close(request: HttpRequest) -> HttpResponseBase:
    form = CloseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "請求月を YYYY-MM で入力してください。")
        return redirect("backoffice:month")
    billing: BillingMonth = form.cleaned_data["month"]
    dry_run_id = form.cleaned_data["dry_run_job"]
    dry_run = _job_or_404(dry_run_id) if dry_run_id else None
    job = _attempt(
        request,
        lambda: approvals.close_start(month=billing, dry_run_job=dry_run, staff=_staff(request)),
    )
    return redirect("backoffice:month_job", pk=job.pk) if job else redirect("backoffice:month")


@acting
@require_POST
def publish_request(request: HttpRequest) -> HttpResponseBase:
    form = PublishRequestForm(request.POST)
    if not form.is_valid():
        messages.error(request, "請求月を YYYY-MM で入力してください。")
        return redirect("backoffice:month")
    asked = _attempt(
        request,
        lambda: approvals.publish_request(
            month=form.cleaned_data["month"],
            reason=form.cleaned_data["reason"],
            staff=_staff(request),
        ),
    )
    if asked:
        messages.success(request, f"公開の承認を依頼しました(依頼 #{asked.pk})。")
        return redirect("backoffice:month_approval", pk=asked.pk)
    return redirect("backoffice:month")


def _approval_or_404(pk: int) -> ApprovalRequest:
    found = month_page.approval_by_id(pk)
    if found is None:
        raise Http404
    return found


@staff_required()
@require_safe
def approval_detail(request: HttpRequest, pk: int) -> HttpResponse:
    asked = _approval_or_404(pk)
    preview = (
        month_page.publish_preview(BillingMonth.parse(asked.args["month"]))
        if asked.kind == ApprovalRequest.Kind.PUBLISH
        else None
    )
    dry_run_id = asked.args.get("dry_run_job")
    dry_run = month_page.job_by_id(int(dry_run_id)) if dry_run_id else None
    return TemplateResponse(
        request,
        "backoffice/month_approval.html",
        _context(
            request,
            asked=asked,
            own=asked.requested_by_id == request.user.pk,
            preview=preview,
            dry_run_report=month_page.import_report(dry_run) if dry_run else [],
            reason_form=ReasonForm(),
        ),
    )


@acting
@require_POST
def approval_grant(request: HttpRequest, pk: int) -> HttpResponseBase:
    form = ReasonForm(request.POST)
    note = form.cleaned_data["reason"] if form.is_valid() else ""
    granted = _attempt(
        request,
        lambda: approvals.approval_grant(request_id=pk, staff=_staff(request), note=note),
    )
    if granted:
        messages.success(
            request, f"依頼 #{pk} を承認しました。ジョブ {granted.job_id} で実行します。"
        )
    return redirect("backoffice:month_approval", pk=pk)


@acting
@require_POST
def approval_refuse(request: HttpRequest, pk: int) -> HttpResponseBase:
    form = ReasonForm(request.POST)
    note = form.cleaned_data["reason"] if form.is_valid() else ""
    refused = _attempt(
        request,
        lambda: approvals.approval_refuse(request_id=pk, staff=_staff(request), note=note),
    )
    if refused:
        messages.success(request, f"依頼 #{pk} を却下しました。")
    return redirect("backoffice:month_approval", pk=pk)


def _download_name(kind: str, month: str, since: str) -> str:
    when = month or since.replace(":", "").replace("-", "")
    return f"{kind}-{when}.csv".replace("/", "_")


@acting
@require_POST
def export(request: HttpRequest) -> HttpResponseBase:
    """An export of ``meisai export`` as a download; the export function writes its audit row
    (actor: the staff member) as the command's does."""
    form = ExportForm(request.POST)
    if not form.is_valid():
        messages.error(request, "出力の種類と文字コードを選んでください。")
        return redirect("backoffice:month")
    kind, encoding = form.cleaned_data["kind"], form.cleaned_data["encoding"]
    month_text, since = form.cleaned_data["month"].strip(), form.cleaned_data["since"].strip()
    module_name, function_name, _ = EXPORTS[kind]
    function = getattr(importlib.import_module(module_name), function_name)
    directory = Path(tempfile.mkdtemp(prefix="meisai-export-"))
    output = directory / _download_name(kind, month_text, since)
    try:
        function(
            month=month_text or None,
            since=since or None,
            output=str(output),
            encoding=encoding,
            actor=request.user.get_username(),
        )
        # Open, then remove: the download streams from the open file and leaves nothing behind.
        handle = output.open("rb")
    except ValueError as refused:
        messages.error(request, str(refused))
        return redirect("backoffice:month")
    finally:
        # POSIX: the open file stays readable after its name is gone.
        shutil.rmtree(directory, ignore_errors=True)
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=output.name,
        content_type=f"text/csv; charset={encoding}",
    )
    return response


urlpatterns = [
    path("month/", month, name="month"),
    path("month/imports/", upload, name="month_upload"),
    path("month/jobs/<int:pk>/", job_detail, name="month_job"),
    path("month/jobs/<int:pk>/import/", import_start, name="month_import"),
    path("month/jobs/<int:pk>/reimport/", reimport_request, name="month_reimport"),
    path("month/close/", close, name="month_close"),
    path("month/publish/", publish_request, name="month_publish"),
    path("month/approvals/<int:pk>/", approval_detail, name="month_approval"),
    path("month/approvals/<int:pk>/grant/", approval_grant, name="month_grant"),
    path("month/approvals/<int:pk>/refuse/", approval_refuse, name="month_refuse"),
    path("month/exports/", export, name="month_export"),
]
