from django.apps import AppConfig


class MagazinesConfig(AppConfig):
    name = "meisai.magazines"
