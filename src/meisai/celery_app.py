"""The Celery application. Workers start with ``meisai worker``; beat with ``meisai scheduler``.

Configuration comes from Django's settings (``CELERY_*``: Redis from ``REDIS_URL`` in
production, run inline in the embedded default); the beat schedule from ``meisai.schedules``.
"""

from __future__ import annotations

import os

from celery import Celery

from meisai.core.worker_metrics import metrics_signals_connect
from meisai.schedules import BEAT_SCHEDULE

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meisai.settings")

app = Celery("meisai")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.beat_schedule = BEAT_SCHEDULE
app.autodiscover_tasks()
# A worker serves its metrics on MEISAI_WORKER_METRICS_BIND (docs/deployment.md, "Metrics").
metrics_signals_connect()
