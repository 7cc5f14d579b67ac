"""会員情報誌: the list and download of issues, or the flyer's notice while switched off."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.views.decorators.http import require_safe

from meisai.core.member_access import member_required
from meisai.magazines.selectors import magazine_issue, magazine_issues
from meisai.magazines.services import magazines_enabled


@require_safe
@member_required()
def magazine_list(request: HttpRequest) -> HttpResponse:
    enabled = magazines_enabled()
    return render(
        request,
        "magazines/list.html",
        {"enabled": enabled, "issues": list(magazine_issues()) if enabled else []},
    )


@require_safe
@member_required()
def magazine_download(request: HttpRequest, pk: int) -> FileResponse:
    if not magazines_enabled():
        raise Http404
    issue = magazine_issue(pk=pk)
    if issue is None:
        raise Http404
    # An attachment: the page's Content-Security-Policy (object-src 'none') would block the
    # browser's own PDF viewer for an inline one.
    return FileResponse(
        issue.pdf.open("rb"),
        as_attachment=True,
        content_type="application/pdf",
        filename=gettext("会員情報誌_%(month)s.pdf") % {"month": issue.month},
    )
