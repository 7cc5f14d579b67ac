"""Normalising what people and files type: full-width to half-width, separators removed."""

from __future__ import annotations

import re
import unicodedata

# Hyphen-like characters Japanese input methods produce: ASCII hyphen, full-width hyphen-minus,
# minus sign, katakana prolonged sound mark (often typed for a hyphen), dashes, and spaces.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\u30fc\uff0d\uff70\u3000]")


def to_half_width(text: str) -> str:
    """NFKC: full-width letters and digits become ASCII (Ｔａｒｏ１２３ → Taro123)."""
    return unicodedata.normalize("NFKC", text)


def normalize_digits(text: str) -> str:
    """A number typed in any width, with hyphens and spaces removed: '０９０－１２３４' → '0901234'."""
    return _SEPARATORS.sub("", to_half_width(text))
