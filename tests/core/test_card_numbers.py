"""Card numbers are only ever a keyed hash and the last four digits (SPEC 3.10)."""

from __future__ import annotations

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
