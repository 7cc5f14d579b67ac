"""Writing text in cp932 (Shift_JIS as Windows has it) without failing and without losing a gap.

The CSV downloads and the files for the core system are cp932 by default: what Excel on Japanese
Windows and the core system read. Not ``shift_jis``: that codec rejects characters members do
have in their names and statements (髙, ㈱, ①).

A character cp932 cannot hold is written as its closest cp932 form — first :data:`TWINS` (the
Unicode/JIS mapping differences such as 〜 → ～, and common look-alikes such as ¥ → ￥), then its
NFKC form, then the letter without its accent (é → e) — and otherwise as ``〓`` (geta, the
customary Japanese printing mark for a missing character), which is logged. Nothing is dropped and
encoding never fails halfway through a file. Register-once error handler: ``"meisai-cp932"``.
"""

from __future__ import annotations

import codecs
import logging
import unicodedata

logger = logging.getLogger(__name__)

#: The visible mark for a character the output encoding cannot hold.
GETA = "〓"

#: Characters whose cp932 twin NFKC does not find.
TWINS = {
    "\u00a5": "\uffe5",  # ¥ YEN SIGN → ￥ FULLWIDTH YEN SIGN
    "\u203e": "\uffe3",  # ‾ OVERLINE → ￣
    "\u2014": "\u2015",  # — EM DASH → ― (cp932 0x815C decodes to U+2015)
    "\u2013": "\u2010",  # – EN DASH → ‐
    "\u2212": "\uff0d",  # − MINUS SIGN → －
    "\u301c": "\uff5e",  # 〜 WAVE DASH → ～ (cp932's wave dash)
    "\u2016": "\u2225",  # ‖ → ∥
    "\u00a2": "\uffe0",  # ¢ → ￠
    "\u00a3": "\uffe1",  # £ → ￡
    "\u00ac": "\uffe2",  # ¬ → ￢
    "\u00a6": "\uffe4",  # ¦ → ￤
    "\u00a0": " ",  # no-break space
    "\u2019": "'",
    "\u2018": "'",
    "\u201c": '"',
    "\u201d": '"',
}

ERRORS = "meisai-cp932"


def cp932_twin(char: str) -> str:
    """The closest text cp932 can hold for ``char``, or ``〓``."""
    candidates = [
        TWINS.get(char, ""),
        unicodedata.normalize("NFKC", char),
        "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)),
    ]
    for candidate in candidates:
        if not candidate:
            continue
        try:
            candidate.encode("cp932")
        except UnicodeEncodeError:
            continue
        return candidate
    logger.warning("cp932: U+%04X has no cp932 form; written as %s", ord(char), GETA)
    return GETA


def _replace(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object[error.start : error.end]
    return "".join(cp932_twin(c) for c in text), error.end


#: ``text.encode("cp932", "meisai-cp932")`` maps or marks what cp932 lacks instead of failing.
codecs.register_error(ERRORS, _replace)


def encode(text: str) -> bytes:
    return text.encode("cp932", ERRORS)
