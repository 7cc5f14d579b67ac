"""Logging helpers: request ids on every line, and a filter that keeps secrets out of the logs.

* ``RequestIdFilter`` stamps each record with the id of the request being served (set by
  ``meisai.core.middleware.RequestIdMiddleware``), ``-`` outside a request.
* ``SensitiveDataFilter`` runs on every handler: anything that looks like a card number (13–19
  digits, also written with hyphens or spaces) is masked down to its last four digits, and
  password fields — in the message text, in ``extra`` fields, in tracebacks — are dropped.
  SPEC 3.10: a full card number or a password never reaches a log.
"""

from __future__ import annotations

import contextvars
import logging
import re
from typing import Any

from meisai import card_numbers

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

#: ``password=…``, ``"password": "…"``, ``'new_password1': '…'`` and the like.
PASSWORD_VALUE = re.compile(
    r"""(?ix)
    (?P<key>["']?[\w-]*(?:password|passwd|pwd|secret)[\w-]*["']?)
    (?P<sep>\s*[:=]\s*)
    (?P<value>\[[^\]]*\]|"[^"]*"|'[^']*'|[^\s,&;}]+)
    """
)
PASSWORD_KEY = re.compile(r"(?i)password|passwd|pwd|secret")
REMOVED = "[removed]"

#: Attributes every LogRecord has; anything else came from ``extra=`` and is checked.
_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


def mask_text(text: str) -> str:
    """The text with card numbers masked and password values removed."""
    text = PASSWORD_VALUE.sub(lambda m: f"{m.group('key')}{m.group('sep')}{REMOVED}", text)
    return card_numbers.mask_in_text(text)


def mask_value(value: Any) -> Any:
    """A log value (text, number, mapping, list) with secrets masked and password keys dropped."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
        return mask_text(text) if card_numbers.IN_TEXT.fullmatch(text) else value
    if isinstance(value, dict):
        return {
            key: mask_value(item)
            for key, item in value.items()
            if not (isinstance(key, str) and PASSWORD_KEY.search(key))
        }
    if isinstance(value, list | tuple):
        return type(value)(mask_value(item) for item in value)
    return value


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class SensitiveDataFilter(logging.Filter):
    """Masks card numbers and drops passwords in the message, its extras and its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = mask_text(message)
        record.args = None
        for key in list(vars(record)):
            if key in _STANDARD_ATTRIBUTES:
                continue
            if PASSWORD_KEY.search(key):
                delattr(record, key)
            else:
                setattr(record, key, mask_value(getattr(record, key)))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
            # The formatter prints exc_text; without exc_info it cannot print the raw frames.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True
