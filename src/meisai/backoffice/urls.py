"""Back-office routes; the admin itself is mounted at ``/backoffice/admin/`` in the root URLs."""

from django.urls import path

from meisai.backoffice import views

app_name = "backoffice"
urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
]
