"""Writes of the statements domain: the monthly close and publication (SPEC 3.6).

The work lives in ``close.py`` and ``publish.py``; this module is the interface the commands,
the demo and the scheduler call.
"""

from __future__ import annotations

from meisai.statements.close import (
    CloseRefused,
    CloseResult,
    ReconciliationError,
    statement_close,
)
from meisai.statements.publish import (
    PublishRefused,
    PublishResult,
    statement_publish,
    statement_publish_due,
)

__all__ = [
    "CloseRefused",
    "CloseResult",
    "PublishRefused",
    "PublishResult",
    "ReconciliationError",
    "statement_close",
    "statement_publish",
    "statement_publish_due",
]
