"""Error pages, in Japanese unless the member chose English. No traceback ever reaches a member."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.translation import gettext

from meisai.core.context_processors import site


def _error(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    return render(
        request, "error.html", {"status": status, "title": title, "message": message}, status=status
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(
        request,
        400,
        gettext("リクエストが正しくありません"),
        gettext("入力内容をご確認のうえ、もう一度お試しください。"),
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(
        request,
        403,
        gettext("このページは表示できません"),
        gettext("このページを表示する権限がありません。"),
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent without its token, or after the session ended: Django's page is English."""
    return _error(
        request,
        403,
        gettext("もう一度お手続きください"),
        gettext(
            "画面を開いてから時間がたったため、送信を受け付けられませんでした。"
            "お手数ですが、前の画面に戻って再読み込みしてから、もう一度お手続きください。"
        ),
    )


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(
        request,
        404,
        gettext("ページが見つかりません"),
        gettext("お探しのページは見つかりませんでした。URLをご確認ください。"),
    )


def server_error(request: HttpRequest) -> HttpResponse:
    return server_error_page(request)


def server_error_page(request: HttpRequest, *, message: str | None = None) -> HttpResponse:
    """The 500 page, also for a view that refuses to answer (e.g. a PDF that fails its check).

    Rendered without the request context: whatever broke may be what the context needs."""
    if message is None:
        message = gettext(
            "申し訳ございません。システムで問題が発生しました。しばらくしてからもう一度お試しください。"
        )
    html = render_to_string(
        "error.html",
        {
            "status": 500,
            "title": gettext("ただいま表示できません"),
            "message": message,
            **site(request),
        },
    )
    return HttpResponse(html, status=500)
