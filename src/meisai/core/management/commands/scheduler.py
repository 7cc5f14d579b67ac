"""``meisai scheduler``: Celery beat, asking for the tasks of ``meisai.schedules`` on time.

Run exactly one per installation (two would ask twice; the tasks are safe to repeat, but it is
wasted work). It needs ``REDIS_URL``; the workers do the work.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "スケジューラー（Celery beat）を起動します。請求額確定日の公開、メール再送、"
        "期限切れセッション等の削除を決まった時刻にワーカーへ依頼します。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loglevel", default="INFO")
        parser.add_argument(
            "--schedule-file",
            default=settings.CELERY_BEAT_SCHEDULE_FILENAME,
            help="最後に実行した時刻を記録するファイル",
        )
        parser.add_argument("celery_args", nargs=argparse.REMAINDER)

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.CELERY_BROKER_URL.startswith("memory://"):
            raise CommandError("REDIS_URL が設定されていません（例: redis://127.0.0.1:6379/0）")
        from meisai.celery_app import app

        schedule_file = Path(options["schedule_file"])
        schedule_file.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            "beat",
            f"--loglevel={options['loglevel']}",
            f"--schedule={schedule_file}",
            *[a for a in options["celery_args"] if a != "--"],
        ]
        app.start(argv=argv)
