"""No card number and no password ever reaches a log line (SPEC 3.10)."""

from __future__ import annotations

import json
import logging

import pytest
from pythonjsonlogger.json import JsonFormatter

from meisai.core.logging import RequestIdFilter, SensitiveDataFilter, mask_text, request_id_var


def _emit(*args, **kwargs) -> dict:
    """Log through the production pipeline (both filters, JSON) and return the parsed line."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.addFilter(RequestIdFilter())
    handler.addFilter(SensitiveDataFilter())
    handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(request_id)s %(message)s"))
    logger = logging.getLogger("meisai.test.logging")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error(*args, **kwargs)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    [line] = lines
    return json.loads(line)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("card 4980123412341234 refused", "card ****-****-****-1234 refused"),
        ("card 4980-1234-1234-5678 refused", "card ****-****-****-5678 refused"),
        ("card 4980 1234 1234 9012 refused", "card ****-****-****-9012 refused"),
        ("amex 378282246310005", "amex ****-****-****-0005"),
        ("19 digits 4980123412341234567", "19 digits ****-****-****-4567"),
    ],
)
def test_card_numbers_are_masked_to_the_last_four(text, masked):
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "member M0000123 phone 09012345678",  # 11 digits: a phone, not a card
        "took 0.0016333412345678s",  # a float's decimals
        "member_no 123456789012",  # 12 digits
        "a 20-digit number 49801234123412345678",  # longer than any card
    ],
)
def test_other_numbers_are_left_alone(text):
    assert mask_text(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("login failed password=hunter2 for x", "login failed password=[removed] for x"),
        (
            "{'login_id': 'abc', 'password': 'hunter2'}",
            "{'login_id': 'abc', 'password': [removed]}",
        ),
        ('{"new_password1": "s3cret!", "a": 1}', '{"new_password1": [removed], "a": 1}'),
        ("post password_confirm=abc&next=/", "post password_confirm=[removed]&next=/"),
    ],
)
def test_password_values_are_removed(text, masked):
    assert mask_text(text) == masked


def test_a_log_line_with_arguments_extras_and_a_traceback_is_clean():
    token = request_id_var.set("req-12345678")
    try:
        raise ValueError("card 4980123412345678 did not match")
    except ValueError:
        line = _emit(
            "registration failed for %s with %s",
            "4980-1234-1234-5678",
            {"password": "hunter2", "login_id": "taro"},
            exc_info=True,
            extra={
                "password": "hunter2",
                "form": {"card_number": "4980123412349999", "password_confirm": "hunter2"},
            },
        )
    finally:
        request_id_var.reset(token)
    text = json.dumps(line, ensure_ascii=False)
    assert "hunter2" not in text
    assert "4980123412345678" not in text and "4980-1234-1234-5678" not in text
    assert "4980123412349999" not in text
    assert line["message"] == (
        "registration failed for ****-****-****-5678 with {'password': [removed], 'login_id': 'taro'}"
    )
    assert line["form"] == {"card_number": "****-****-****-9999"}
    assert "password" not in line
    assert line["request_id"] == "req-12345678"
    assert line["exc_info"].endswith("ValueError: card ****-****-****-5678 did not match")
