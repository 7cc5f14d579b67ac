"""What the monthly commands (``close``, ``publish``, ``pdf_check``) share: the month argument,
who runs them, and ``--queue``, which hands the work to the workers as a job."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import CommandError, CommandParser

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
