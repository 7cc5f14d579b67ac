"""Error pages in Japanese. No traceback ever reaches a member."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def _error(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    return render(
        request, "error.html", {"status": status, "title": title, "message": message}, status=status
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(
        request,
        400,
        "リクエストが正しくありません",
        "入力内容をご確認のうえ、もう一度お試しください。",
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(
        request, 403, "このページは表示できません", "このページを表示する権限がありません。"
    )


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(
        request,
        404,
        "ページが見つかりません",
        "お探しのページは見つかりませんでした。URLをご確認ください。",
    )


def server_error(request: HttpRequest) -> HttpResponse:
    return _error(
        request,
        500,
        "ただいま表示できません",
        "申し訳ございません。システムで問題が発生しました。しばらくしてからもう一度お試しください。",
    )
