"""What a locked-out login sees: the same generic answer as a wrong password (SPEC 3.5)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout_response(
    request: HttpRequest, credentials: dict | None = None, *args: object, **kwargs: object
) -> HttpResponse:
    return render(
        request,
        "error.html",
        {
            "status": 403,
            "title": "ログインできません",
            "message": "ログインIDまたはパスワードが正しくありません。しばらくしてからもう一度お試しください。",
        },
        status=403,
    )
