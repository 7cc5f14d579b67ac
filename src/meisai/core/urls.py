"""Routes of the core app: health checks for load balancers, metrics for Prometheus."""

from django.urls import path

from meisai.core import health, metrics_views

app_name = "core"
urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_views.metrics, name="metrics"),
]
