from django.urls import path

from meisai.notifications import views

app_name = "notifications"
urlpatterns = [
    path("demo/outbox/", views.outbox_list, name="outbox"),
    path("demo/outbox/<int:pk>/", views.outbox_detail, name="outbox_detail"),
]
