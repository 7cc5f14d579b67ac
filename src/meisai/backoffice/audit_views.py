"""The audit trail for auditors (監査ログ, ``/backoffice/audit/``): search by member number, staff
(actor), action and a range of JST days; 50 rows a page; export as CSV (cp932 or UTF-8,
formula-safe through ``statements/csv_export``).

Auditors and administrators only. Decision: operators get 403 — the trail records what
operators do, and the issue gives it to the people who check them; an operator still sees a
member's own history on the member's page. Every page shown and every export is itself a row of
the trail (``audit_view``, ``audit_export``), written by ``backoffice/audit_trail.py``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.views.decorators.http import require_safe

from meisai.backoffice.access import staff_required
from meisai.backoffice.audit_trail import (
    AuditFilter,
    audit_actions,
    audit_entries,
    audit_trail_export,
    audit_trail_view_record,
    detail_text,
)
from meisai.backoffice.roles import Role
from meisai.clock import jst, now
from meisai.core.clients import client_address
from meisai.statements.csv_export import content_disposition, csv_chunks

PAGE_SIZE = 50
#: Who may read the trail (the module's docstring says why operators may not).
READERS = (Role.AUDITOR, Role.ADMINISTRATOR)


class AuditSearchForm(forms.Form):
    member_no = forms.CharField(label="会員番号", max_length=20, required=False)
    actor = forms.CharField(label="実行者(ログインID等)", max_length=150, required=False)
    action = forms.CharField(label="操作", max_length=100, required=False)
    date_from = forms.DateField(label="開始日", required=False)
    date_to = forms.DateField(label="終了日", required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError("開始日は終了日以前の日付を入力してください。")
        return cleaned

    def filters(self) -> AuditFilter:
        data = self.cleaned_data
        return AuditFilter(
            member_no=data["member_no"].strip(),
            actor=data["actor"].strip(),
            action=data["action"].strip(),
            date_from=data["date_from"],
            date_to=data["date_to"],
        )


def _client_ip(request: HttpRequest) -> str | None:
    address = client_address(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def _form(request: HttpRequest) -> AuditSearchForm:
    return AuditSearchForm(request.GET or None)


def _filters(form: AuditSearchForm) -> AuditFilter | None:
    """The search asked for; None for a form with errors (nothing is searched then)."""
    if not form.is_bound:
        return AuditFilter()
    return form.filters() if form.is_valid() else None


@require_safe
@staff_required(*READERS)
def audit_trail(request: HttpRequest) -> HttpResponse:
    form = _form(request)
    filters = _filters(form)
    page, rows = None, []
    if filters is not None:
        paginator = Paginator(audit_entries(filters=filters), PAGE_SIZE)
        page = paginator.get_page(request.GET.get("page"))
        # Read before recording the look, so the page shows the trail as it was asked for.
        rows = [(entry, detail_text(entry)) for entry in page]
        audit_trail_view_record(
            actor=request.user.get_username(),
            filters=filters,
            page=page.number,
            rows=paginator.count,
            client_ip=_client_ip(request),
        )
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("encoding", None)
    return TemplateResponse(
        request,
        "backoffice/audit_trail.html",
        {
            "form": form,
            "page": page,
            "rows": rows,
            "actions": audit_actions(),
            "query": query.urlencode(),
        },
    )


@require_safe
@staff_required(*READERS)
def audit_trail_csv(request: HttpRequest) -> HttpResponseBase:
    form = _form(request)
    filters = _filters(form)
    if filters is None:
        return HttpResponse(
            "検索条件に誤りがあります。", status=400, content_type="text/plain; charset=utf-8"
        )
    encoding = "utf-8" if request.GET.get("encoding", "").lower() in {"utf-8", "utf8"} else "cp932"
    export = audit_trail_export(
        actor=request.user.get_username(),
        filters=filters,
        encoding=encoding,
        client_ip=_client_ip(request),
    )
    response = StreamingHttpResponse(
        csv_chunks(export.csv_rows(), encoding=encoding),
        content_type=f"text/csv; charset={'Shift_JIS' if encoding == 'cp932' else 'utf-8'}",
    )
    stamp = f"{jst(now()):%Y%m%d-%H%M%S}"
    response["Content-Disposition"] = content_disposition(
        filename=f"監査ログ_{stamp}.csv", fallback=f"audit-trail-{stamp}.csv"
    )
    return response


urlpatterns = [
    path("audit/", audit_trail, name="audit_trail"),
    path("audit/export.csv", audit_trail_csv, name="audit_trail_csv"),
]
