"""Staff sign-in (being built): password, then TOTP code."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path


def staff_login(request: HttpRequest) -> HttpResponse:
    raise Http404


def staff_logout(request: HttpRequest) -> HttpResponse:
    raise Http404


urlpatterns = [
    path("login/", staff_login, name="login"),
    path("logout/", staff_logout, name="logout"),
]
