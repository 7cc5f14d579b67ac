"""Routes of the core app: health checks for load balancers."""

from django.urls import path

from meisai.core import health

app_name = "core"
urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
