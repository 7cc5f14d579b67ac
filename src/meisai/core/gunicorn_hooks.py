"""gunicorn's configuration hooks for ``meisai serve`` (``--config=python:meisai.core.gunicorn_hooks``):
the bookkeeping of the multiprocess metrics when a worker process ends and when gunicorn exits.
"""

from __future__ import annotations

from typing import Any

from meisai.core.metrics_processes import directory_remove, process_dead


def child_exit(server: Any, worker: Any) -> None:
    process_dead(worker.pid)


def on_exit(server: Any) -> None:
    directory_remove()
