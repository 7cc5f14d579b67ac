"""What the monthly commands (``close``, ``publish``, ``pdf_check``) share: the month argument,
who runs them, and ``--queue``, which hands the work to the workers as a job."""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Iterator
from typing import Any

from celery.exceptions import Retry
from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError

from meisai.billing_calendar import BillingMonth


def monthly_arguments(parser: CommandParser) -> None:
    parser.add_argument("month", help="billing month YYYY-MM")
    parser.add_argument("--actor", default="", help="operator name for the record")
    parser.add_argument(
        "--queue",
        action="store_true",
        help="hand the work to the workers and return at once (follow it as a job in the "
        "back office)",
    )


def month_of(options: dict[str, Any]) -> BillingMonth:
    try:
        return BillingMonth.parse(options["month"])
    except ValueError as error:
        raise CommandError(str(error)) from error


def actor_of(options: dict[str, Any]) -> str:
    """``--actor``, or the operating-system user running the command."""
    return options["actor"] or f"cli:{getpass.getuser()}"


@contextlib.contextmanager
def database_failure_as_one_line(message: str) -> Iterator[None]:
    """A database error (the connection lost to a server restart, a guard refusing at commit)
    becomes one line, ``message: Type: first line of the error``, and a non-zero exit instead of
    a traceback. The services are one transaction each: nothing of the run was kept.

    Inline (``MEISAI_TASKS_INLINE``) a ``--queue`` job runs in the command, and its task's
    automatic retry brings the error back wrapped in Celery's ``Retry``."""
    try:
        yield
    except Retry as retry:
        if not isinstance(retry.exc, DatabaseError):
            raise
        raise CommandError(f"{message}: {_one_line(retry.exc)}") from retry
    except DatabaseError as error:
        raise CommandError(f"{message}: {_one_line(error)}") from error


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:300] if text else ''}"
