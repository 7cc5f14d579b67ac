"""``meisai serve``: the production web server, gunicorn with threaded workers.

Put it behind a reverse proxy that terminates TLS (docs/deployment.md). Static files are served
by WhiteNoise from ``MEISAI_STATIC_ROOT`` (run ``meisai collectstatic`` when deploying).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


def gunicorn_argv(
    *, bind: str, workers: int, threads: int, extra: list[str] | None = None
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "meisai.wsgi:application",
        f"--bind={bind}",
        "--worker-class=gthread",
        f"--workers={workers}",
        f"--threads={threads}",
        # A request never needs more than a few seconds; a stuck worker is replaced.
        "--timeout=30",
        "--graceful-timeout=30",
        "--keep-alive=5",
        # Recycle workers now and then so a slow leak never grows.
        "--max-requests=5000",
        "--max-requests-jitter=500",
        # meisai logs every request itself (JSON, with its request id): no second access log.
        "--error-logfile=-",
        *(extra or []),
    ]


class Command(BaseCommand):
    help = (
        "本番用 Web サーバー（gunicorn, gthread ワーカー）を起動します。"
        "既定値は MEISAI_BIND, MEISAI_WEB_WORKERS, MEISAI_WEB_THREADS から。"
        "-- の後ろの引数はそのまま gunicorn に渡します。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        serve = settings.MEISAI_SERVE
        parser.add_argument("--bind", default=serve["bind"], help="既定: 127.0.0.1:8000")
        parser.add_argument("--workers", type=int, default=serve["workers"])
        parser.add_argument("--threads", type=int, default=serve["threads"])
        parser.add_argument("gunicorn_args", nargs=argparse.REMAINDER)

    def handle(self, *args: Any, **options: Any) -> None:
        argv = gunicorn_argv(
            bind=options["bind"],
            workers=options["workers"],
            threads=options["threads"],
            extra=[a for a in options["gunicorn_args"] if a != "--"],
        )
        # Replace this process, so signals from systemd or a container reach gunicorn directly.
        os.execv(sys.executable, argv)  # noqa: S606
