"""Progress of long work (imports, close, publish, the sender).

In a terminal: a rich progress bar with counts, rate and time left. Elsewhere (a worker, CI, a
pipe): a plain log line every ``log_every`` seconds. Callers use one interface::

    with progress_report("取込 usage", total=rows) as advance:
        for chunk in chunks:
            ...
            advance(len(chunk))

A running background job (``meisai.core.jobs.job_run``) listens to every bar opened inside it,
so its record carries the same counts.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import time
from collections.abc import Callable, Iterator

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

logger = logging.getLogger("meisai.progress")

#: ``listener(label, done, total)`` of the job this code runs in, if any.
Listener = Callable[[str, int, "int | None"], None]
_listener: contextvars.ContextVar[Listener | None] = contextvars.ContextVar(
    "progress_listener", default=None
)


@contextlib.contextmanager
def job_listener(listener: Listener) -> Iterator[None]:
    """Send the counts of every progress bar opened inside to ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


@contextlib.contextmanager
def progress_report(
    label: str, *, total: int | None, log_every: float = 10.0, enabled: bool = True
) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; show a bar on a terminal, log periodic lines otherwise."""
    listener = _listener.get()
    counted = {"done": 0}

    def tell(n: int) -> None:
        counted["done"] += n
        if listener is not None:
            listener(label, counted["done"], total)

    if enabled and sys.stderr.isatty():
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=False,
        ) as bar:
            task = bar.add_task(label, total=total)

            def advance_bar(n: int) -> None:
                bar.advance(task, n)
                tell(n)

            yield advance_bar
        return

    started = time.monotonic()
    state = {"done": 0, "last": started}

    def advance(n: int) -> None:
        tell(n)
        state["done"] += n
        moment = time.monotonic()
        if enabled and moment - state["last"] >= log_every:
            state["last"] = moment
            _log(label, state["done"], total, moment - started)

    yield advance
    if enabled:
        _log(label, int(state["done"]), total, time.monotonic() - started, finished=True)


def _log(
    label: str, done: float, total: int | None, elapsed: float, finished: bool = False
) -> None:
    rate = done / elapsed if elapsed > 0 else 0.0
    if finished:
        logger.info("%s: done %d in %.1fs (%.0f/s)", label, done, elapsed, rate)
    elif total:
        left = (total - done) / rate if rate else float("inf")
        logger.info(
            "%s: %d/%d (%.0f%%) %.0f/s, about %.0fs left",
            label,
            done,
            total,
            100 * done / total,
            rate,
            left,
        )
    else:
        logger.info("%s: %d so far, %.0f/s", label, done, rate)
