"""Friendly Japanese 404, 403 and 500 pages; never a traceback (DEBUG is off by default)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import include, path

from meisai.statements.models import Statement

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def _broken(request):
    Statement.objects.get(pk=-1)  # raises DoesNotExist: an unexpected error


def _forbidden(request):
    raise PermissionDenied


urlpatterns = [
    path("broken/", _broken),
    path("forbidden/", _forbidden),
    path("", include("meisai.urls")),
]
handler403 = "meisai.core.views.permission_denied"
handler404 = "meisai.core.views.page_not_found"
handler500 = "meisai.core.views.server_error"


def test_404_is_japanese(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    page = response.content.decode()
    assert '<html lang="ja">' in page
    assert "ページが見つかりません" in page
    assert "トップページへ戻る" in page


def test_403_is_japanese(client):
    response = client.get("/forbidden/")

    assert response.status_code == 403
    assert "このページを表示する権限がありません。" in response.content.decode()


def test_500_is_japanese_without_traceback(client, settings):
    assert settings.DEBUG is False
    client.raise_request_exception = False

    response = client.get("/broken/")

    assert response.status_code == 500
    page = response.content.decode()
    assert "申し訳ございません。システムで問題が発生しました。" in page
    assert "Traceback" not in page and "DoesNotExist" not in page
