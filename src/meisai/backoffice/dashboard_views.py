"""The operator dashboard: where the month stands, at a glance. Counts only, no member data."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from meisai.backoffice.selectors import dashboard_figures


def dashboard(request: HttpRequest) -> HttpResponse:
    return TemplateResponse(
        request,
        "backoffice/dashboard.html",
        {
            **admin.site.each_context(request),
            "title": "ダッシュボード",
            "figures": dashboard_figures(),
        },
    )


#: Staff only, through the admin's own login page.
dashboard_view = admin.site.admin_view(dashboard)

urlpatterns = [path("", dashboard_view, name="dashboard")]
