"""お客様情報 pages that belong to the member master (the paper preference)."""

from django.urls import path

from meisai.members import views

app_name = "members"
urlpatterns = [
    path("account/paper/", views.paper_preference, name="paper"),
]
