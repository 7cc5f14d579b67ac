from django.urls import path

from meisai.magazines import views

app_name = "magazines"
urlpatterns = [
    path("magazines/", views.magazine_list, name="list"),
    path("magazines/<int:pk>.pdf", views.magazine_download, name="download"),
]
