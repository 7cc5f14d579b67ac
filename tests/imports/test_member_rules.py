"""The member file's fast checks agree with the rules they stand in for."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from hypothesis import given
from hypothesis import strategies as st

from meisai.imports.formats.members import PLAIN_EMAIL_RE, parse_email
from meisai.imports.reading import FieldError


@given(st.from_regex(PLAIN_EMAIL_RE, fullmatch=True).filter(lambda text: len(text) <= 320))
def test_every_address_the_fast_check_accepts_django_accepts_too(address):
    validate_email(address)


def test_an_address_longer_than_its_column_is_refused_fast_or_not():
    address = "a" * 250 + "@example.jp"
    assert PLAIN_EMAIL_RE.fullmatch(address)
    with pytest.raises(FieldError, match="longer than 254 characters"):
        parse_email(address)


@pytest.mark.parametrize(
    "address",
    ["taro..morioka@example.jp", ".taro@example.jp", "taro@-example.jp", "taro@example", "taro@"],
)
def test_what_the_fast_check_passes_on_is_still_refused(address):
    with pytest.raises(ValidationError):
        validate_email(address)
    with pytest.raises(FieldError, match="not an email address"):
        parse_email(address)


def test_an_address_the_fast_check_does_not_know_goes_to_django():
    # A local part with a character plain addresses lack, an address literal: valid, not plain.
    for address in ["taro!morioka@example.jp", "taro@[192.0.2.1]"]:
        assert PLAIN_EMAIL_RE.fullmatch(address) is None
        assert parse_email(address) == address
