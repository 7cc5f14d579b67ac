"""``meisai serve``: the production web server, gunicorn with threaded workers.

Put it behind a reverse proxy that terminates TLS (docs/deployment.md) and set
``MEISAI_TRUSTED_PROXIES``: only then is the proxy's ``X-Forwarded-Proto`` believed (by Django,
never by gunicorn). Static files are served by WhiteNoise from ``MEISAI_STATIC_ROOT`` (run
``meisai collectstatic`` when deploying).

Workers and threads (``MEISAI_WEB_WORKERS``, ``MEISAI_WEB_THREADS``) default to 4 × 2: two
processes per core of a 2-core node, two threads each. A page is almost all Python (the
statement body comes from the cache, the session and the account from Redis), so threads of one
process mostly wait for each other's GIL; with 8 threads per process the slowest requests queued
behind the others. Measured with bench/statement_page.py on the 2-core machine (64 connections):
the cached statement page at 550–623 requests/s with p99 212–302 ms at 4 × 2 (three runs),
against 514–553 requests/s with p99 277–339 ms at 2 × 8 (three runs); 3 × 4 was no better. Two
threads per process still overlap the Redis and database waits.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from meisai.core.metrics_processes import directory_prepare


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
            # gunicorn believes X-Forwarded-Proto from 127.0.0.1 by default. Believe it from
            # nobody: whether the scheme header counts is Django's decision alone
            # (SECURE_PROXY_SSL_HEADER, set only when MEISAI_TRUSTED_PROXIES > 0).
            extra=[
                "--forwarded-allow-ips=",
                # The metrics' bookkeeping when a worker process ends and when gunicorn exits.
                "--config=python:meisai.core.gunicorn_hooks",
                *[a for a in options["gunicorn_args"] if a != "--"],
            ],
        )
        # The worker processes write their metrics to files there, summed at each scrape
        # (core.metrics); set before gunicorn, so before any of them imports the client.
        directory_prepare("web")
        # Replace this process, so signals from systemd or a container reach gunicorn directly.
        os.execv(sys.executable, argv)  # noqa: S606
