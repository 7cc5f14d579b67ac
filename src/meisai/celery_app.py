"""The Celery application. Workers start with ``meisai worker``; beat with ``meisai scheduler``."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meisai.settings")

app = Celery("meisai")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
