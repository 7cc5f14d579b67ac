from django.urls import path

from meisai.points import views

app_name = "points"
urlpatterns = [
    path("points/", views.points_page, name="points"),
]
