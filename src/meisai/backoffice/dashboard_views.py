"""The staff dashboard (``/backoffice/``, every staff role): where the service stands, month by
month, in charts drawn on the server with the same numbers in tables. Counts only, no member
data, so opening it is not an audited view of member data."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.views.decorators.http import require_safe

from meisai.backoffice.access import staff_required
from meisai.backoffice.dashboard import dashboard_figures
from meisai.backoffice.dashboard_charts import dashboard_charts


@require_safe
@staff_required()
def dashboard(request: HttpRequest) -> HttpResponse:
    figures = dashboard_figures()
    return TemplateResponse(
        request,
        "backoffice/dashboard.html",
        {"figures": figures, "charts": dashboard_charts(figures)},
    )


urlpatterns = [path("", dashboard, name="dashboard")]
