"""Member pages of statements (SPEC 4.4)."""

from django.urls import path, re_path

from meisai.statements import views

app_name = "statements"
urlpatterns = [
    path("", views.top, name="top"),
    path("statements/", views.statement_list, name="list"),
    path("statements/all.csv", views.statements_csv_download, name="csv_all"),
    re_path(r"^statements/(?P<month>\d{4}-\d{2})/$", views.statement_detail, name="detail"),
    re_path(r"^statements/(?P<month>\d{4}-\d{2})\.pdf$", views.statement_pdf_download, name="pdf"),
    re_path(r"^statements/(?P<month>\d{4}-\d{2})\.csv$", views.statement_csv_download, name="csv"),
]
