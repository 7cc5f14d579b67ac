"""``meisai worker``: a Celery worker for meisai's background tasks (Redis from ``REDIS_URL``).

It replaces itself with ``celery worker``, as ``meisai serve`` does with gunicorn: signals from
systemd or a container reach Celery directly, and the pool's processes start with the metrics'
multiprocess directory already in their environment (core.metrics_processes).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from meisai.core.metrics_processes import directory_prepare


class Command(BaseCommand):
    help = (
        "Celery ワーカーを起動します（送信・締め・公開・取込・PDF 作成）。"
        "REDIS_URL が必要です。-- の後ろの引数はそのまま celery worker に渡します。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--concurrency",
            type=int,
            default=settings.CELERY_WORKER_CONCURRENCY,
            help="同時に実行するタスク数（既定: MEISAI_WORKER_CONCURRENCY、2）",
        )
        parser.add_argument("--pool", default="prefork", help="prefork（既定）, threads, solo")
        parser.add_argument("--loglevel", default="INFO")
        parser.add_argument("--hostname", default=None, help="ワーカー名（既定: worker@ホスト名）")
        parser.add_argument("celery_args", nargs=argparse.REMAINDER)

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.CELERY_BROKER_URL.startswith("memory://"):
            raise CommandError("REDIS_URL が設定されていません（例: redis://127.0.0.1:6379/0）")
        argv = [
            sys.executable,
            "-m",
            "celery",
            "--app=meisai.celery_app:app",
            "worker",
            f"--loglevel={options['loglevel']}",
            f"--concurrency={options['concurrency']}",
            f"--pool={options['pool']}",
            # Tasks are acknowledged late and are safe to repeat; no result store is needed.
            "--without-gossip",
            "--without-mingle",
        ]
        if options["hostname"]:
            argv.append(f"--hostname={options['hostname']}")
        argv += [a for a in options["celery_args"] if a != "--"]
        directory_prepare("worker")
        os.execv(sys.executable, argv)  # noqa: S606
