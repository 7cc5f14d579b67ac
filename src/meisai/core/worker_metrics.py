"""The metrics of a Celery worker (``meisai worker``): served by its main process over HTTP on
``MEISAI_WORKER_METRICS_BIND`` (default 127.0.0.1:9540), ``GET /metrics`` with the same bearer
token as the web nodes, and only when ``MEISAI_METRICS_TOKEN`` is set.

The tasks run in the pool's child processes, which write their values to the worker's
multiprocess directory (``core.metrics_processes``); the main process adds them up when
scraped. ``metrics_signals_connect`` wires this into Celery's signals (``celery_app``).
"""

from __future__ import annotations

import logging
import socketserver
import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from celery import signals

from meisai.core.metrics_processes import directory_remove, process_dead

logger = logging.getLogger(__name__)


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Scrapes every few seconds would fill the worker's log."""


def metrics_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    from django.conf import settings
    from django.db import connection
    from prometheus_client import CONTENT_TYPE_LATEST

    from meisai.core.metrics import bearer_token_matches, exposition

    if environ.get("PATH_INFO") != "/metrics" or environ.get("REQUEST_METHOD") != "GET":
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"404 Not Found\n"]
    if not bearer_token_matches(
        environ.get("HTTP_AUTHORIZATION", ""), settings.MEISAI_METRICS_TOKEN
    ):
        start_response(
            "401 Unauthorized",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("WWW-Authenticate", 'Bearer realm="metrics"'),
            ],
        )
        return [b"401 Unauthorized\n"]
    try:
        body = exposition()
    finally:
        # The scrape's thread asked the database for the outbox depth: give the connection back.
        connection.close()
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
    return [body]


def metrics_server_start(bind: str) -> WSGIServer:
    host, _, port = bind.rpartition(":")
    server = make_server(
        host.strip("[]") or "127.0.0.1",
        int(port),
        metrics_app,
        server_class=_ThreadingServer,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


def _on_worker_ready(**_: Any) -> None:
    from django.conf import settings

    if not settings.MEISAI_METRICS_TOKEN or not settings.MEISAI_WORKER_METRICS_BIND:
        return
    try:
        metrics_server_start(settings.MEISAI_WORKER_METRICS_BIND)
    except OSError as error:
        # A second worker on the same machine with the same address: it works, unscraped.
        logger.error("metrics: cannot listen on %s: %s", settings.MEISAI_WORKER_METRICS_BIND, error)
        return
    logger.info("metrics: serving /metrics on %s", settings.MEISAI_WORKER_METRICS_BIND)


def _on_child_shutdown(**_: Any) -> None:
    import os

    process_dead(os.getpid())


def _on_worker_shutdown(**_: Any) -> None:
    directory_remove()


def metrics_signals_connect() -> None:
    # After the pool has started (its children do not inherit the listening socket).
    signals.worker_ready.connect(_on_worker_ready, weak=False)
    signals.worker_process_shutdown.connect(_on_child_shutdown, weak=False)
    signals.worker_shutdown.connect(_on_worker_shutdown, weak=False)
