"""Member pages of statements (SPEC 4.4)."""

from django.urls import path

from meisai.statements import views

app_name = "statements"
urlpatterns = [
    path("", views.top, name="top"),
    path("statements/", views.statement_list, name="list"),
    path("statements/all.csv", views.statements_csv_download, name="csv_all"),
    path("statements/<month:month>/", views.statement_detail, name="detail"),
    path("statements/<month:month>.pdf", views.statement_pdf_download, name="pdf"),
    path("statements/<month:month>.csv", views.statement_csv_download, name="csv"),
]
