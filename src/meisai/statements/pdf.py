"""The statement as a PDF: ReportLab's canvas, A4, the Japanese font embedded as a subset.

* Font: IPAexGothic (TrueType, installed by ``scripts/setup`` from Debian's
  ``fonts-ipaexfont-gothic``), embedded as a subset, so the PDF prints the same everywhere; a
  built-in CID font would leave the glyphs to the viewer.
* A character IPAexGothic lacks (𠮷 in a name, say) is drawn with the HanaMin fonts (Debian's
  ``fonts-hanazono``, TrueType, also embedded as subsets). A character no font has is drawn as
  ``〓`` and logged — never dropped silently.
* Deterministic: ReportLab's ``invariant`` mode fixes the creation date and document ID, so the
  same statement renders to the same bytes; ``statement_pdf_fingerprint_check`` records the
  SHA-256 of the first PDF served and compares every later rendering with it.
* Two layouts. The full ご利用代金明細書 (issuer's address and inquiry line, issue date, member
  number, debit account, 備考, remaining 分割/リボ balances, points, 「1/2」 page numbers) is
  what every statement gets from now on. The first, shorter layout is kept, frozen, for the
  statements whose SHA-256 was recorded from it before the full one existed: the database lets
  a recorded digest never change (``statements/triggers.py``), and a document already issued
  must stay the one issued. ``statement_pdf`` serves the full layout unless the statement's
  recorded digest is the first layout's; a rendering that matches neither is still refused by
  the check, so the alarm keeps its meaning.
* Fast enough for a first download on the confirmation day: ReportLab's C accelerators
  (``rl-accel``) and ``_show`` below write the same bytes as ReportLab's pure-Python code, at
  about half its time; ``tests/statements/test_pdf_bytes.py`` pins the digests of both layouts.
* In English, for a member who chose it: the full layout with the labels of ``_LABELS`` in
  English (the catalogue's) and amounts, dates and months in their English forms
  (``formatting``), the same fonts (a Japanese merchant or name stays as it is), the same bytes
  for the same statement. It is a translation for the member's convenience, not the document
  issued: its SHA-256 is neither recorded nor checked (``pdf_is_translation``); the Japanese PDF
  is, byte for byte what it always was.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext_lazy, pgettext_lazy
from reportlab.lib.pagesizes import A4
from reportlab.lib.rl_accel import fp_str
from reportlab.pdfbase import pdfmetrics, ttfonts
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from meisai.billing_calendar import BillingMonth
from meisai.clock import jst
from meisai.core import cp932
from meisai.core.progress import progress_report
from meisai.members.models import Member
from meisai.statements import formatting
from meisai.statements.formatting import short_date
from meisai.statements.models import LineKind, PaymentType, Statement, UserKind
from meisai.statements.selectors import Line, StatementView, statement_view

logger = logging.getLogger(__name__)

#: Every label the PDF prints, once. The Japanese (the msgid) is what the Japanese PDF prints,
#: byte for byte; the English PDF takes the catalogue's English. ``{…}`` are the values.
_LABELS = {
    "service": gettext_lazy("WEB請求明細"),
    "title": gettext_lazy("ご利用代金明細書 {month}"),
    "continued": gettext_lazy("{title}(続き)"),
    "page": gettext_lazy("{number}ページ"),  # the first layout's page number
    "holder": gettext_lazy("{name} 様"),
    "cards": gettext_lazy("カード番号 {cards}"),
    "card_separator": gettext_lazy("、"),
    "inquiry": gettext_lazy("お問い合わせ TEL {phone} 受付時間 {hours}"),
    "issued": gettext_lazy("発行日 {date}"),
    "member_no": gettext_lazy("会員番号 {number}"),
    "debit_account": gettext_lazy("お引落口座 {account}"),
    "account_ending": gettext_lazy("{bank} 口座番号末尾 {last4}"),
    "debit_date_is": gettext_lazy("お引落日 {date}"),
    "card_group": gettext_lazy("カード {card} ({user}ご利用分)"),
    # column heads
    "use_date": gettext_lazy("ご利用日"),
    "user": gettext_lazy("利用者"),
    "merchant": gettext_lazy("ご利用先"),
    "payment": gettext_lazy("支払区分"),
    "installment": gettext_lazy("回数"),
    "use_amount": gettext_lazy("ご利用金額"),
    "billed": gettext_lazy("今回ご請求額"),
    "note": gettext_lazy("備考"),
    # totals and balances
    "subtotal": gettext_lazy("小計"),
    "usage_total": gettext_lazy("ご利用金額合計"),
    "paper_fee_total": gettext_lazy("紙明細発行手数料"),  # the first layout's word for the fee
    "fee_total": gettext_lazy("手数料"),
    "billed_total": gettext_lazy("今回ご請求額合計"),
    "debit_date": gettext_lazy("お引落日"),
    "points_granted": gettext_lazy("今回付与ポイント"),
    "balances": gettext_lazy("ご請求後のお支払残高"),
    "installment_balance": gettext_lazy("分割払い残高"),
    "revolving_balance": gettext_lazy("リボ払い残高"),
    "points": gettext_lazy("ポイント"),
    "points_balance": gettext_lazy("ポイント残高({date}現在)"),
    "points_expiring": gettext_lazy("うち{date}失効予定"),
    # The PDF's columns are narrow: its own (shorter) English for the payment types and users.
    PaymentType.ONCE: pgettext_lazy("statement PDF", "1回払い"),
    PaymentType.TWICE: pgettext_lazy("statement PDF", "2回払い"),
    PaymentType.BONUS: pgettext_lazy("statement PDF", "ボーナス一括払い"),
    PaymentType.INSTALLMENT: pgettext_lazy("statement PDF", "分割払い"),
    PaymentType.REVOLVING: pgettext_lazy("statement PDF", "リボ払い"),
    UserKind.SELF: pgettext_lazy("statement PDF", "本人"),
    UserKind.FAMILY: pgettext_lazy("statement PDF", "家族"),
}


class _Words:
    """One document's language: its labels (resolved once) and the forms of its values."""

    def __init__(self, language: str) -> None:
        self.language = language
        with translation.override(language):
            self._labels = {key: str(label) for key, label in _LABELS.items()}

    def __call__(self, key: str, **values: object) -> str:
        label = self._labels[key]
        return label.format(**values) if values else label

    def yen(self, amount: int) -> str:
        return formatting.money(amount, language=self.language)

    def date(self, day: dt.date | None) -> str:
        return formatting.long_date(day, language=self.language)

    def month(self, month: BillingMonth) -> str:
        return formatting.statement_month(month, language=self.language)

    def points(self, amount: int) -> str:
        return formatting.point_amount(amount, language=self.language)

    def payment(self, code: str) -> str:
        """A payment type's name (``1回`` → ``1回払い``); a code meisai does not know as sent."""
        return self._labels.get(code, code) if code in _PAYMENT_CODES else code

    def user(self, code: str) -> str:
        """Who used the card (``本人``, ``家族``); any other text as the core system sent it."""
        return self._labels.get(code, code) if code in _USER_CODES else code


# ``Choices.values`` builds its list on every call; a line asks twice.
_PAYMENT_CODES = frozenset(PaymentType.values)
_USER_CODES = frozenset(UserKind.values)


@functools.cache
def _words(language: str) -> _Words:
    """One ``_Words`` per language and process: its labels are resolved with a language switch
    each, and the catalogue does not change while meisai runs."""
    return _Words(language)


_JAPANESE = "ja"
_ENGLISH = "en"


def pdf_is_translation(language: str | None) -> bool:
    """Whether the PDF for ``language`` is the English translation, whose SHA-256 is neither
    recorded nor checked (the module docstring says why); ``None`` is Japanese."""
    return language is not None and language.startswith(_ENGLISH)


MAIN_FONT = ("IPAexGothic", Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"))
FALLBACK_FONTS = [
    ("HanaMinA", Path("/usr/share/fonts/truetype/hanazono/HanaMinA.ttf")),
    ("HanaMinB", Path("/usr/share/fonts/truetype/hanazono/HanaMinB.ttf")),
]
GETA = cp932.GETA


def _to_unicode_cmap(fontname: str, subset: list[int]) -> str:
    """ReportLab's ToUnicode CMap, with characters beyond U+FFFF written as UTF-16 pairs.

    ReportLab writes ``<20BB7>`` for 𠮷, which PDF readers reject, so the character would print
    but could not be copied, searched or read aloud; the PDF reference wants ``<D842DFB7>``.
    """
    entries = [
        f"<{i:02X}> <{chr(v).encode('utf-16-be', 'surrogatepass').hex().upper()}>"
        for i, v in enumerate(subset)
    ]
    return "\n".join(
        [
            "/CIDInit /ProcSet findresource begin",
            "12 dict begin",
            "begincmap",
            "/CIDSystemInfo",
            f"<< /Registry ({fontname})",
            f"/Ordering ({fontname})",
            "/Supplement 0",
            ">> def",
            f"/CMapName /{fontname} def",
            "/CMapType 2 def",
            "1 begincodespacerange",
            f"<00> <{len(subset) - 1:02X}>",
            "endcodespacerange",
            f"{len(subset)} beginbfchar",
            *entries,
            "endbfchar",
            "endcmap",
            "CMapName currentdict /CMap defineresource pop",
            "end",
            "end",
        ]
    )


ttfonts.makeToUnicodeCMap = _to_unicode_cmap


class PdfFingerprintMismatch(Exception):
    """A rendering differs from the PDF first served for this statement."""


@dataclass
class _Font:
    name: str
    glyphs: dict[int, int]


_main: _Font | None = None
_fallbacks: list[_Font] | None = None


def _register(name: str, path: Path) -> _Font:
    font = TTFont(name, str(path))
    pdfmetrics.registerFont(font)
    return _Font(name=name, glyphs=font.face.charToGlyph)


def _main_font() -> _Font:
    global _main
    if _main is None:
        _main = _register(*MAIN_FONT)
    return _main


def _fallback_fonts() -> list[_Font]:
    """Loaded the first time a character is missing from the main font (they are large)."""
    global _fallbacks
    if _fallbacks is None:
        _fallbacks = [_register(name, path) for name, path in FALLBACK_FONTS if path.exists()]
        if not _fallbacks:
            logger.warning("PDF: no fallback font installed (fonts-hanazono)")
    return _fallbacks


def _runs(text: str) -> list[tuple[str, str]]:
    """Split ``text`` into (font name, text) runs; a character no font has becomes 〓."""
    main = _main_font()
    if all(map(main.glyphs.__contains__, map(ord, text))):
        return [(main.name, text)]
    runs: list[tuple[str, str]] = []
    for char in text:
        font_name = main.name
        if ord(char) not in main.glyphs:
            font_name = next(
                (f.name for f in _fallback_fonts() if ord(char) in f.glyphs), main.name
            )
            if font_name == main.name:
                logger.warning("PDF: no font has U+%04X; drawn as %s", ord(char), GETA)
                char = GETA
        if runs and runs[-1][0] == font_name:
            runs[-1] = (font_name, runs[-1][1] + char)
        else:
            runs.append((font_name, char))
    return runs


def _width(runs: list[tuple[str, str]], size: float) -> float:
    return sum(pdfmetrics.stringWidth(text, font, size) for font, text in runs)


def _draw(
    canvas: Canvas,
    x: float,
    y: float,
    text: str,
    *,
    size: float = 9,
    align: str = "left",
    max_width: float | None = None,
) -> None:
    """Draw ``text`` at (x, y); ``align="right"`` puts its end at x. Too wide text shrinks
    down to 6 pt, then is cut with an ellipsis."""
    runs = _runs(text)
    if max_width is None and align == "left" and len(runs) == 1:
        # The common case, without measuring: the same drawing as below, a third of the work.
        _show(canvas, x, y, runs[0][0], size, runs[0][1])
        return
    width = _width(runs, size)
    if max_width is not None and width > max_width:
        size = max(6.0, size * max_width / width)
        width = _width(runs, size)
        while width > max_width and len(text) > 1:
            text = text[:-1]
            runs = _runs(text + "…")
            width = _width(runs, size)
    if align == "right":
        x -= width
    elif align == "center":
        x -= width / 2
    for font, part in runs:
        _show(canvas, x, y, font, size, part)
        x += pdfmetrics.stringWidth(part, font, size)


_fonts_by_name: dict[str, TTFont] = {}


@functools.cache
def _size_operators(size: float) -> str:
    return f"{fp_str(size)} Tf {fp_str(size * 1.2)} TL"


def _show(canvas: Canvas, x: float, y: float, font_name: str, size: float, text: str) -> None:
    """Write exactly what ``canvas.setFont(font_name, size)`` and ``canvas.drawString(x, y,
    text)`` write for an embedded TrueType font, at a third of their cost.

    ReportLab's ``drawString`` measures the text (and drops the width), then builds a text
    object for the one line; a statement draws some 260 strings, so that was most of its
    rendering time. The operators and the font subsets' use are the same, byte for byte:
    ``tests/statements/test_pdf_bytes.py`` pins the digests of documents already issued.
    """
    font = _fonts_by_name.get(font_name)
    if font is None:
        font = _fonts_by_name[font_name] = pdfmetrics.getFont(font_name)
    leading = size * 1.2
    # setFont's state (a TrueType font writes no operator until text is shown).
    canvas._fontname, canvas._fontsize, canvas._leading = font_name, size, leading
    doc = canvas._doc
    parts: list[str] = []
    subset_shown = -1
    for subset, chunk in font.splitString(text, doc):
        if subset != subset_shown:
            name = font.getSubsetInternalName(subset, doc)
            parts.append(f"{name} {_size_operators(size)}")
            subset_shown = subset
        parts.append(f"({canvas._escape(chunk)}) Tj")
    canvas._code.append(f"BT 1 0 0 1 {fp_str(x, y)} Tm {' '.join(parts)} T* ET")


_PAGE_WIDTH, _PAGE_HEIGHT = A4
_MARGIN = 40
_ROW = 15
#: Columns: x of the left edge (text) or right edge (amounts).
_COL_DATE = _MARGIN
_COL_USER = _MARGIN + 62
_COL_MERCHANT = _MARGIN + 92
_COL_PAYMENT = _MARGIN + 300
_COL_INSTALLMENT = _MARGIN + 362
_COL_USE = _MARGIN + 448
_COL_BILLED = _PAGE_WIDTH - _MARGIN


# --- the first layout (frozen) ----------------------------------------------------------------
# What statements first rendered before the full layout were issued with. Not to be changed: a
# change alters the bytes of documents already issued, whose recorded SHA-256 must still match.


class _Page:
    """Keeps the cursor and starts a new page (with the column heads) when one is full."""

    def __init__(self, canvas: Canvas, title: str, words: _Words) -> None:
        self.canvas = canvas
        self.title = title
        self.words = words
        self.number = 1
        self.y = 0.0

    def need(self, height: float) -> None:
        if self.y - height < _MARGIN + 20:
            self.canvas.showPage()
            self.number += 1
            self.y = _PAGE_HEIGHT - _MARGIN
            _draw(self.canvas, _MARGIN, self.y, self.words("continued", title=self.title), size=10)
            self.y -= 22
            self.heads()

    def heads(self) -> None:
        c = self.canvas
        y = self.y
        for x, key, align in (
            (_COL_DATE, "use_date", "left"),
            (_COL_USER, "user", "left"),
            (_COL_MERCHANT, "merchant", "left"),
            (_COL_PAYMENT, "payment", "left"),
            (_COL_INSTALLMENT, "installment", "left"),
            (_COL_USE, "use_amount", "right"),
            (_COL_BILLED, "billed", "right"),
        ):
            _draw(c, x, y, self.words(key), size=8.5, align=align)
        c.setLineWidth(0.6)
        c.line(_MARGIN, y - 4, _PAGE_WIDTH - _MARGIN, y - 4)
        self.y -= _ROW + 2

    def footer(self) -> None:
        _draw(
            self.canvas,
            _PAGE_WIDTH - _MARGIN,
            _MARGIN - 10,
            self.words("page", number=self.number),
            size=8,
            align="right",
        )


def statement_pdf(*, view: StatementView, issuer: str, language: str | None = None) -> bytes:
    """Render a statement to PDF bytes: the same statement gives the same bytes.

    The full layout, unless the statement's recorded SHA-256 is that of the first layout (it
    was first served before the full one existed): then the document first issued. In English
    (``language`` ``en``; ``None`` is Japanese) the full layout translated, whatever was issued.
    """
    if pdf_is_translation(language):
        return _full_pdf(view=view, issuer=issuer, words=_words(_ENGLISH))
    words = _words(_JAPANESE)
    pdf = _full_pdf(view=view, issuer=issuer, words=words)
    recorded = view.statement.pdf_sha256
    if recorded and hashlib.sha256(pdf).hexdigest() != recorded:
        first = _first_layout_pdf(view=view, issuer=issuer, words=words)
        if hashlib.sha256(first).hexdigest() == recorded:
            return first
    return pdf


def _first_layout_pdf(*, view: StatementView, issuer: str, words: _Words | None = None) -> bytes:
    """The first layout, byte for byte as it was (see the module docstring); Japanese only."""
    words = words or _words(_JAPANESE)
    statement = view.statement
    buffer = io.BytesIO()
    # The initial font is ours, or ReportLab would name an unembedded Helvetica on every page.
    canvas = Canvas(
        buffer,
        pagesize=A4,
        invariant=1,
        pageCompression=1,
        initialFontName=_main_font().name,
        initialFontSize=9,
    )
    title = words("title", month=words.month(view.month))
    canvas.setTitle(title)
    canvas.setAuthor(issuer)
    canvas.setCreator("meisai")
    page = _Page(canvas, title, words)

    top = _PAGE_HEIGHT - _MARGIN
    _draw(canvas, _MARGIN, top, issuer, size=11)
    _draw(canvas, _PAGE_WIDTH - _MARGIN, top, words("service"), size=9, align="right")
    _draw(canvas, _MARGIN, top - 30, title, size=16)
    name = _holder(statement).name_kanji
    _draw(canvas, _MARGIN, top - 58, words("holder", name=name), size=13, max_width=300)
    cards = sorted({line.card.masked for line in view.lines if line.card is not None})
    cards_text = words("cards", cards=words("card_separator").join(cards))
    _draw(canvas, _MARGIN, top - 76, cards_text, size=9, max_width=300)

    box_x = _PAGE_WIDTH - _MARGIN - 200
    canvas.setLineWidth(0.8)
    canvas.rect(box_x, top - 100, 200, 62)
    _draw(canvas, box_x + 8, top - 54, words("billed"), size=9)
    _draw(canvas, box_x + 192, top - 76, words.yen(statement.total), size=16, align="right")
    debit = words("debit_date_is", date=words.date(statement.debit_date))
    _draw(canvas, box_x + 8, top - 94, debit, size=9)

    page.y = top - 130
    page.heads()
    for group in view.groups:
        page.need(_ROW * 2)
        masked = group.card.masked if group.card else ""
        heading = words("card_group", card=masked, user=words.user(group.user_kind))
        _draw(canvas, _MARGIN, page.y, heading, size=9)
        page.y -= _ROW
        for line in group.lines:
            page.need(_ROW)
            _line(canvas, page.y, line, words)
            page.y -= _ROW
        page.need(_ROW)
        _draw(canvas, _COL_USE, page.y, words("subtotal"), size=8.5, align="right")
        subtotal = words.yen(group.billed_total)
        _draw(canvas, _COL_BILLED, page.y, subtotal, size=8.5, align="right")
        page.y -= _ROW + 4
    for line in [*view.other_lines, *view.fee_lines]:
        page.need(_ROW)
        _line(canvas, page.y, line, words)
        page.y -= _ROW

    page.need(_ROW * 5)
    canvas.setLineWidth(0.8)
    canvas.line(_MARGIN, page.y + 10, _PAGE_WIDTH - _MARGIN, page.y + 10)
    page.y -= 4
    for label, value in (
        (words("usage_total"), words.yen(statement.usage_total)),
        (words("paper_fee_total"), words.yen(statement.fee_total)),
        (words("billed_total"), words.yen(statement.total)),
        (words("debit_date"), words.date(statement.debit_date)),
        (words("points_granted"), words.points(statement.points_granted)),
    ):
        # Labels stand left of the amount column so a long value (the debit date) fits.
        _draw(canvas, _COL_USE - 40, page.y, label, size=10, align="right")
        _draw(canvas, _COL_BILLED, page.y, value, size=10, align="right")
        page.y -= _ROW + 2
    page.footer()
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _line(canvas: Canvas, y: float, line: Line, words: _Words) -> None:
    if line.kind == LineKind.PAPER_FEE:
        _draw(canvas, _COL_MERCHANT, y, line.merchant, max_width=_COL_PAYMENT - _COL_MERCHANT - 6)
    else:
        _draw(canvas, _COL_DATE, y, short_date(line.use_date))
        _draw(canvas, _COL_USER, y, words.user(line.user_kind))
        _draw(canvas, _COL_MERCHANT, y, line.merchant, max_width=_COL_PAYMENT - _COL_MERCHANT - 6)
        _draw(canvas, _COL_PAYMENT, y, words.payment(line.payment_type), max_width=58)
        _draw(canvas, _COL_INSTALLMENT, y, line.installment)
    _draw(canvas, _COL_USE, y, words.yen(line.use_amount), align="right")
    _draw(canvas, _COL_BILLED, y, words.yen(line.billed_amount), align="right")


# --- the full layout --------------------------------------------------------------------------

#: Columns of the full layout: x of the left edge (text) or right edge (amounts).
_F_DATE = _MARGIN
_F_USER = _MARGIN + 58
_F_MERCHANT = _MARGIN + 90
_F_PAYMENT = _MARGIN + 232
_F_INSTALLMENT = _MARGIN + 292
_F_USE = _MARGIN + 385
_F_BILLED = _MARGIN + 450
_F_NOTE = _MARGIN + 458
_F_RIGHT = _PAGE_WIDTH - _MARGIN


class _NumberedCanvas(Canvas):
    """A canvas that holds its pages back until the end, to print 「n/N」 on each of them."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._held: list[dict[str, object]] = []

    def showPage(self) -> None:  # noqa: N802 - ReportLab's name
        self._held.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._held)
        for state in self._held:
            self.__dict__.update(state)
            _draw(
                self,
                _PAGE_WIDTH / 2,
                _MARGIN - 14,
                f"{self._pageNumber}/{total}",
                size=8,
                align="center",
            )
            super().showPage()
        super().save()


class _FullPage:
    """The cursor of the full layout; a new page repeats the title, member number and heads."""

    def __init__(self, canvas: Canvas, title: str, member_no: str, words: _Words) -> None:
        self.canvas = canvas
        self.title = title
        self.member_no = member_no
        self.words = words
        self.y = 0.0

    def need(self, height: float) -> None:
        if self.y - height < _MARGIN + 10:
            self.canvas.showPage()
            self.y = _PAGE_HEIGHT - _MARGIN
            _draw(self.canvas, _MARGIN, self.y, self.words("continued", title=self.title), size=10)
            member_no = self.words("member_no", number=self.member_no)
            _draw(self.canvas, _F_RIGHT, self.y, member_no, size=8, align="right")
            self.y -= 22
            self.heads()

    def heads(self) -> None:
        c = self.canvas
        for x, key, align in (
            (_F_DATE, "use_date", "left"),
            (_F_USER, "user", "left"),
            (_F_MERCHANT, "merchant", "left"),
            (_F_PAYMENT, "payment", "left"),
            (_F_INSTALLMENT, "installment", "left"),
            (_F_USE, "use_amount", "right"),
            (_F_BILLED, "billed", "right"),
            (_F_NOTE, "note", "left"),
        ):
            _draw(c, x, self.y, self.words(key), size=8.5, align=align)
        c.setLineWidth(0.6)
        c.line(_MARGIN, self.y - 4, _F_RIGHT, self.y - 4)
        self.y -= _ROW + 2

    def rows(self, heading: str, rows: list[tuple[str, str]]) -> None:
        """A small table of figures below the lines: a heading, then label / value rows."""
        self.need(_ROW * (len(rows) + 1) + 8)
        self.y -= 8
        _draw(self.canvas, _MARGIN, self.y, heading, size=10)
        self.y -= _ROW + 2
        for label, value in rows:
            _draw(self.canvas, _F_USE - 40, self.y, label, size=10, align="right")
            _draw(self.canvas, _F_BILLED, self.y, value, size=10, align="right")
            self.y -= _ROW + 2


@dataclass(frozen=True)
class _Holder:
    """The member as the PDF prints them: name and debit account."""

    name_kanji: str
    debit_bank: str | None
    debit_branch: str | None
    debit_account_last4: str | None


def _holder(statement: Statement) -> _Holder:
    """The statement's snapshot of the member at the close, or the member row for a statement
    closed before there was one (models.Statement says why)."""
    if statement.holder_name is not None:
        source: Statement | Member = statement
        name = statement.holder_name
    else:
        source = statement.member
        name = statement.member.name_kanji
    return _Holder(name, source.debit_bank, source.debit_branch, source.debit_account_last4)


def _debit_account(view: StatementView, words: _Words) -> str:
    """お引落口座, or '' when the core system sent none (then the PDF says nothing of it)."""
    holder = _holder(view.statement)
    if not (holder.debit_bank and holder.debit_account_last4):
        return ""
    bank = " ".join(part for part in (holder.debit_bank, holder.debit_branch) if part)
    return words("account_ending", bank=bank, last4=holder.debit_account_last4)


def _full_pdf(*, view: StatementView, issuer: str, words: _Words) -> bytes:
    statement = view.statement
    member = statement.member
    buffer = io.BytesIO()
    canvas = _NumberedCanvas(
        buffer,
        pagesize=A4,
        invariant=1,
        pageCompression=1,
        initialFontName=_main_font().name,
        initialFontSize=9,
    )
    title = words("title", month=words.month(view.month))
    canvas.setTitle(title)
    canvas.setAuthor(issuer)
    canvas.setCreator("meisai")
    page = _FullPage(canvas, title, member.member_no, words)

    top = _PAGE_HEIGHT - _MARGIN
    _draw(canvas, _MARGIN, top, issuer, size=11, max_width=330)
    _draw(canvas, _MARGIN, top - 13, settings.MEISAI_ISSUER_ADDRESS, size=8, max_width=330)
    _draw(
        canvas,
        _MARGIN,
        top - 24,
        words(
            "inquiry",
            phone=settings.MEISAI_ISSUER_PHONE,
            hours=settings.MEISAI_ISSUER_PHONE_HOURS,
        ),
        size=8,
        max_width=330,
    )
    _draw(canvas, _F_RIGHT, top, words("service"), size=9, align="right")
    if statement.confirmed_at is not None:
        issued = words("issued", date=words.date(jst(statement.confirmed_at).date()))
        _draw(canvas, _F_RIGHT, top - 13, issued, size=8, align="right")
    member_no = words("member_no", number=member.member_no)
    _draw(canvas, _F_RIGHT, top - 24, member_no, size=8, align="right")
    _draw(canvas, _MARGIN, top - 56, title, size=16)
    name = _holder(statement).name_kanji
    _draw(canvas, _MARGIN, top - 84, words("holder", name=name), size=13, max_width=300)
    cards = sorted({line.card.masked for line in view.lines if line.card is not None})
    cards_text = words("cards", cards=words("card_separator").join(cards))
    _draw(canvas, _MARGIN, top - 102, cards_text, size=9, max_width=300)
    account = _debit_account(view, words)
    if account:
        account_text = words("debit_account", account=account)
        _draw(canvas, _MARGIN, top - 116, account_text, size=9, max_width=300)

    box_x = _F_RIGHT - 200
    canvas.setLineWidth(0.8)
    canvas.rect(box_x, top - 126, 200, 62)
    _draw(canvas, box_x + 8, top - 80, words("billed"), size=9)
    _draw(canvas, box_x + 192, top - 102, words.yen(statement.total), size=16, align="right")
    debit = words("debit_date_is", date=words.date(statement.debit_date))
    _draw(canvas, box_x + 8, top - 120, debit, size=9)

    page.y = top - 150
    page.heads()
    for group in view.groups:
        page.need(_ROW * 2)
        masked = group.card.masked if group.card else ""
        heading = words("card_group", card=masked, user=words.user(group.user_kind))
        _draw(canvas, _MARGIN, page.y, heading, size=9)
        page.y -= _ROW
        for line in group.lines:
            page.need(_ROW)
            _full_line(canvas, page.y, line, words)
            page.y -= _ROW
        page.need(_ROW)
        _draw(canvas, _F_USE, page.y, words("subtotal"), size=8.5, align="right")
        subtotal = words.yen(group.billed_total)
        _draw(canvas, _F_BILLED, page.y, subtotal, size=8.5, align="right")
        page.y -= _ROW + 4
    for line in [*view.other_lines, *view.fee_lines]:
        page.need(_ROW)
        _full_line(canvas, page.y, line, words)
        page.y -= _ROW

    totals = [(words("usage_total"), words.yen(statement.usage_total))]
    if statement.fee_total:
        # The fee itself is the last line above; here only its amount, under another word.
        totals.append((words("fee_total"), words.yen(statement.fee_total)))
    totals += [
        (words("billed_total"), words.yen(statement.total)),
        (words("debit_date"), words.date(statement.debit_date)),
        (words("points_granted"), words.points(statement.points_granted)),
    ]
    page.need(_ROW * (len(totals) + 1))
    canvas.setLineWidth(0.8)
    canvas.line(_MARGIN, page.y + 10, _F_RIGHT, page.y + 10)
    page.y -= 4
    for label, value in totals:
        _draw(canvas, _F_USE - 40, page.y, label, size=10, align="right")
        _draw(canvas, _F_BILLED, page.y, value, size=10, align="right")
        page.y -= _ROW + 2
    if view.balance is not None:
        page.rows(
            words("balances"),
            [
                (words("installment_balance"), words.yen(view.balance.installment_balance)),
                (words("revolving_balance"), words.yen(view.balance.revolving_balance)),
            ],
        )
    if view.points is not None:
        points = view.points
        as_of = words("points_balance", date=words.date(points.as_of))
        rows = [(as_of, words.points(points.balance))]
        if points.expiring_points and points.expires_on is not None:
            expiring = words("points_expiring", date=words.date(points.expires_on))
            rows.append((expiring, words.points(points.expiring_points)))
        page.rows(words("points"), rows)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _full_line(canvas: Canvas, y: float, line: Line, words: _Words) -> None:
    if line.kind == LineKind.PAPER_FEE:
        _draw(canvas, _F_MERCHANT, y, line.merchant, max_width=_F_INSTALLMENT - _F_MERCHANT - 6)
    else:
        _draw(canvas, _F_DATE, y, short_date(line.use_date), size=8.5)
        _draw(canvas, _F_USER, y, words.user(line.user_kind), max_width=_F_MERCHANT - _F_USER - 2)
        _draw(canvas, _F_MERCHANT, y, line.merchant, max_width=_F_PAYMENT - _F_MERCHANT - 4)
        _draw(canvas, _F_PAYMENT, y, words.payment(line.payment_type), max_width=56)
        _draw(canvas, _F_INSTALLMENT, y, line.installment, max_width=38)
    _draw(canvas, _F_USE, y, words.yen(line.use_amount), align="right")
    _draw(canvas, _F_BILLED, y, words.yen(line.billed_amount), align="right")
    if line.note:
        _draw(canvas, _F_NOTE, y, line.note, max_width=_F_RIGHT - _F_NOTE)


def statement_pdf_fingerprint_check(*, statement: Statement, pdf: bytes) -> None:
    """Record the SHA-256 of the first PDF served; refuse a later rendering that differs.

    A confirmed statement never changes, so a different rendering means the layout or the
    font changed underneath it: the member would get a document other than the one first
    issued. That is refused (the page answers 500 and the error is logged) until an operator
    has looked into it.
    """
    digest = hashlib.sha256(pdf).hexdigest()
    if not statement.pdf_sha256:
        # Only the first rendering is recorded, even when two requests race for it: the one
        # that lost reads the winner's digest.
        if Statement.objects.filter(pk=statement.pk, pdf_sha256="").update(pdf_sha256=digest):
            statement.pdf_sha256 = digest
        else:
            statement.refresh_from_db(fields=["pdf_sha256"])
    if statement.pdf_sha256 != digest:
        logger.error(
            "PDF of statement %s (%s) differs from the one first served: recorded %s, now %s",
            statement.pk,
            statement.billing_month,
            statement.pdf_sha256,
            digest,
        )
        raise PdfFingerprintMismatch(statement.pk)


def statements_pdf_render(*, month: BillingMonth) -> dict[str, int]:
    """Render the PDF of every statement of ``month`` and check it against its recorded SHA-256.

    A statement without a recorded hash gets this rendering's (what the member will download);
    one with a hash must render to the same bytes, else it counts as a mismatch (and is logged
    by the check). Rendering before the confirmation day records every hash ahead of the rush;
    after a restore it proves the statements are the ones issued. Safe to run again.
    """
    counts = {"rendered": 0, "recorded": 0, "verified": 0, "mismatched": 0}
    statements = Statement.objects.filter(billing_month=month).order_by("id")
    with progress_report(f"PDF {month}", total=statements.count()) as advance:
        for statement in statements.iterator(chunk_size=500):
            had_hash = bool(statement.pdf_sha256)
            pdf = statement_pdf(
                view=statement_view(statement=statement), issuer=settings.MEISAI_ISSUER_NAME
            )
            counts["rendered"] += 1
            try:
                statement_pdf_fingerprint_check(statement=statement, pdf=pdf)
            except PdfFingerprintMismatch:
                counts["mismatched"] += 1
            else:
                counts["verified" if had_hash else "recorded"] += 1
            advance(1)
    return counts
