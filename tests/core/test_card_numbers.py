"""Card numbers are only ever a keyed hash and the last four digits (SPEC 3.10)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from meisai import card_numbers


def test_full_width_and_hyphenated_input_hash_the_same(settings):
    assert card_numbers.card_hash("４９８０－１２３４ ５６７８-9012") == card_numbers.card_hash(
        "4980123456789012"
    )


def test_hash_is_keyed(settings):
    first = card_numbers.card_hash("4980123456789012")
    settings.CARD_HASH_KEY = "another-key"
    assert card_numbers.card_hash("4980123456789012") != first


def test_mask_shows_only_the_last_four():
    assert card_numbers.mask("4980123456789012") == "****-****-****-9012"


def test_luhn_valid_knows_a_card_number_from_a_typo():
    assert card_numbers.luhn_valid("4980000012345670")
    assert not card_numbers.luhn_valid("4980000012345678")
    assert card_numbers.luhn_valid("４９８０００００１２３４５６７０")


def test_error_messages_mask_every_run_of_digits_that_holds_a_luhn_valid_number():
    assert card_numbers.mask_card_numbers("note 4980-0000-1234-5670 here") == (
        "note ****-****-****-5670 here"
    )
    assert card_numbers.mask_card_numbers("4980 0000 1234 5670") == "****-****-****-5670"
    assert card_numbers.mask_card_numbers("４９８０－００００－１２３４－５６７０") == (
        "****-****-****-5670"
    )
    # Glued to other digits it is a card number still, and the whole run goes.
    assert card_numbers.mask_card_numbers("x124980000012345670y") == "x****-****-****-5670y"
    # A run that fails Luhn is masked still when 13–19 digits of it pass: "4980000012345678"
    # fails, "4980000012345" in it passes.
    assert card_numbers.mask_card_numbers("4980000012345678") == "****-****-****-5678"
    # No stretch passes, or too short: left as they are.
    assert card_numbers.mask_card_numbers("ID 4980000012342") == "ID 4980000012342"
    assert card_numbers.mask_card_numbers("9" * 20) == "9" * 20
    assert card_numbers.mask_card_numbers("498000001234") == "498000001234"
    # The logs mask every run of 13–19 digits, Luhn or not.
    assert card_numbers.mask_in_text("ID 4980000012342") == "ID ****-****-****-2342"


@given(st.text(alphabet="0123456789", max_size=45))
def test_holds_card_number_agrees_with_checking_every_stretch(digits):
    every_stretch = any(
        card_numbers.luhn_valid(digits[start : start + length])
        for length in range(card_numbers.MIN_DIGITS, card_numbers.MAX_DIGITS + 1)
        for start in range(len(digits) - length + 1)
    )
    assert card_numbers.holds_card_number(digits) is every_stretch


@given(st.text(max_size=60))
def test_masked_text_holds_no_card_number(text):
    masked = card_numbers.mask_card_numbers(text)
    assert card_numbers.mask_card_numbers(masked) == masked


def test_the_hash_is_the_hmac_sha256_of_the_digits_under_the_key_in_use(settings):
    import hashlib
    import hmac

    for key in ("first-key", "second-key", "first-key"):
        settings.CARD_HASH_KEY = key
        for raw, digits in (
            ("4980123456789012", "4980123456789012"),
            ("４９８０-1234 5678 9012", "4980123456789012"),
        ):
            assert card_numbers.card_hash(raw) == (
                hmac.new(key.encode(), digits.encode(), hashlib.sha256).hexdigest()
            )
