"""Member pages of statements: the top page, the list, one statement, its PDF and CSV.

Views stay thin: the selectors decide what a member may see (anything else is the same 404),
the formatting, chart, PDF and CSV modules turn it into output.
"""

from __future__ import annotations

from typing import Any

from csp.constants import SELF
from csp.decorators import csp_replace
from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext
from django.views.decorators.http import require_safe

from meisai import billing_calendar
from meisai.audit.security_events import security_event
from meisai.billing_calendar import BillingMonth
from meisai.core.member_access import member_required, request_member, request_member_id
from meisai.core.views import server_error_page
from meisai.members.models import Member
from meisai.statements import csv_export, selectors
from meisai.statements.charts import monthly_totals_svg
from meisai.statements.formatting import file_month
from meisai.statements.models import Statement
from meisai.statements.pdf import (
    PdfFingerprintMismatch,
    pdf_is_translation,
    statement_pdf,
    statement_pdf_fingerprint_check,
)
from meisai.statements.top_page import top_page_context

#: Part of the cache key of a rendered statement body: raise it when the template changes.
STATEMENT_BODY_VERSION = 5


@require_safe
@member_required(staff_redirect="/backoffice/admin/")
def top(request: HttpRequest) -> HttpResponse:
    context = top_page_context(member_id=request_member_id(request))
    return render(request, "statements/top.html", context)


@require_safe
@member_required()
def statement_list(request: HttpRequest) -> HttpResponse:
    member = request_member(request)
    statements = list(selectors.published_statements(member=member))
    totals = selectors.monthly_totals(member=member)
    return render(
        request,
        "statements/list.html",
        {
            "statements": statements,
            "chart": monthly_totals_svg(totals) if statements else "",
            "window": selectors.visible_billing_months(),
        },
    )


def _viewed(kind: str, request: HttpRequest, **detail: Any) -> None:
    """The security event of a member opening or downloading a statement (SPEC 3.10)."""
    security_event(
        kind,
        member_id=getattr(request.user, "member_id", None),
        login_id=getattr(request.user, "login_id", ""),
        **detail,
    )


def _statement_or_404(member: Member | int, month: BillingMonth) -> Statement:
    statement = selectors.published_statement(member=member, month=month)
    if statement is None:
        raise Http404
    return statement


@require_safe
@member_required()
def statement_detail(request: HttpRequest, month: BillingMonth) -> HttpResponse:
    # A published statement never changes and never becomes unpublished, so its rendered body
    # is cached under the member, month and language: only the window is checked again on a hit.
    if not billing_calendar.is_visible(month, billing_calendar.latest_billing_month()):
        raise Http404
    member_id = request_member_id(request)
    language = translation.get_language()
    key = f"statement-body:v{STATEMENT_BODY_VERSION}:{language}:{member_id}:{month}"
    body = cache.get(key)
    if body is None:
        # By the member's id: the page needs nothing of the member row (one query less).
        statement = _statement_or_404(member_id, month)
        view = selectors.statement_view(statement=statement)
        body = render_to_string("statements/_statement_body.html", {"view": view, "s": statement})
        cache.set(key, body, timeout=60 * 60 * 24)
    _viewed("statement_viewed", request, month=str(month))
    return render(
        request,
        "statements/detail.html",
        {"month": month, "body": body},
    )


@require_safe
@member_required()
# The browser's own PDF viewer is a plugin: the page's ``object-src 'none'`` would refuse to show
# the document inline. This response is the PDF itself, never HTML, so it may embed itself.
@csp_replace({"object-src": [SELF]})  # type: ignore[arg-type]  # its stub knows request-only views
def statement_pdf_download(request: HttpRequest, month: BillingMonth) -> HttpResponse:
    # The statement comes with its member (what the PDF prints of it): no query of its own.
    statement = _statement_or_404(request_member_id(request), month)
    language = translation.get_language()
    pdf = statement_pdf(
        view=selectors.statement_view(statement=statement),
        issuer=settings.MEISAI_ISSUER_NAME,
        language=language,
    )
    try:
        # The English PDF is a translation, not the document issued: only the Japanese one is
        # recorded and checked (pdf.py).
        if not pdf_is_translation(language):
            statement_pdf_fingerprint_check(statement=statement, pdf=pdf)
    except PdfFingerprintMismatch:
        return server_error_page(
            request,
            message=gettext(
                "申し訳ございません。PDFをご用意できませんでした。"
                "お手数ですが、画面の明細をご覧いただくか、しばらくしてからお試しください。"
            ),
        )
    _viewed("statement_pdf", request, month=str(month))
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = csv_export.content_disposition(
        filename=gettext("ご利用代金明細書_%(month)s.pdf") % {"month": file_month(month)},
        fallback=f"meisai-{month}.pdf",
        # 「PDFで見る」 opens it in the browser's viewer; 「PDFをダウンロード」 saves it.
        inline="download" not in request.GET,
    )
    return response


def _csv_encoding(request: HttpRequest) -> str:
    return "utf-8" if request.GET.get("encoding", "").lower() in {"utf-8", "utf8"} else "cp932"


def _csv_response(
    request: HttpRequest, statements: list[Statement], *, filename: str, fallback: str
) -> StreamingHttpResponse:
    encoding = _csv_encoding(request)
    response = StreamingHttpResponse(
        csv_export.csv_chunks(
            csv_export.csv_rows(statements, encoding=encoding), encoding=encoding
        ),
        content_type=f"text/csv; charset={'Shift_JIS' if encoding == 'cp932' else 'utf-8'}",
    )
    response["Content-Disposition"] = csv_export.content_disposition(
        filename=filename, fallback=fallback
    )
    return response


@require_safe
@member_required()
def statement_csv_download(request: HttpRequest, month: BillingMonth) -> StreamingHttpResponse:
    member = request_member(request)
    statement = _statement_or_404(member, month)
    _viewed("statement_csv", request, month=str(month), encoding=_csv_encoding(request))
    return _csv_response(
        request,
        [statement],
        filename=gettext("ご利用明細_%(month)s.csv") % {"month": file_month(month)},
        fallback=f"meisai-{month}.csv",
    )


@require_safe
@member_required()
def statements_csv_download(request: HttpRequest) -> StreamingHttpResponse:
    """Every visible statement in one file, oldest first."""
    member = request_member(request)
    statements = list(selectors.published_statements(member=member).order_by("billing_month"))
    _viewed("statement_csv", request, month="all", encoding=_csv_encoding(request))
    return _csv_response(
        request,
        statements,
        filename=gettext("ご利用明細_全期間.csv"),
        fallback="meisai-all.csv",
    )
