"""Routes of the staff console under ``/backoffice/`` (Django's admin, for the long tail of master
data, is mounted at ``/backoffice/admin/`` in the root URLs). Each area of the console keeps its
routes beside its views; every one of them is wrapped in ``access.staff_required``."""

from meisai.backoffice import audit_views, dashboard_views, login_views, member_views, month_views

app_name = "backoffice"
urlpatterns = [
    *login_views.urlpatterns,
    *dashboard_views.urlpatterns,
    *member_views.urlpatterns,
    *month_views.urlpatterns,
    *audit_views.urlpatterns,
]
