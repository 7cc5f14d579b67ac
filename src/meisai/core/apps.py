from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "meisai.core"
    verbose_name = "meisai core"
