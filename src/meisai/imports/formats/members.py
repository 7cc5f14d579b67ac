"""members: the member master, one row per card (SPEC 4.3).

``member_no, card_no, card_expiry, product_code, name_kanji, name_kana, birth_date,
postal_code, address, phone_home, phone_mobile, email, status, cancelled_on, fee_exempt,
paper_required`` and optionally, all three together, ``debit_bank, debit_branch,
debit_account_last4`` (the debit account printed on the statement PDF; a file without them
leaves the stored debit account alone).

A member with two cards has two rows whose member fields agree. Members are upserted by
``member_no``, cards by the keyed hash of their number. A member present in the file is
complete in it: its cards not listed become inactive, a phone column left empty removes that
phone. Members absent from the file are left alone (files may be partial).
``Member.program_excluded`` is derived here: true when every card of the member is of an
excluded product (the IRIS card).
"""

from __future__ import annotations

import datetime as dt
import gc
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection

from meisai import card_numbers
from meisai.clock import today_jst
from meisai.core.text import normalize_digits, to_half_width
from meisai.imports.columns import max_length
from meisai.imports.formats import Counts, ParsedFile, chunked, member_merge
from meisai.imports.models import ImportBatch
from meisai.imports.reading import (
    DateParser,
    FieldError,
    Header,
    ImportRefused,
    MonthParser,
    Problems,
    half,
    parse_flag,
    show_value,
    text_field,
)
from meisai.members.models import Card, Member, Phone, Product

REQUIRED = (
    "member_no",
    "card_no",
    "card_expiry",
    "product_code",
    "name_kanji",
    "name_kana",
    "birth_date",
    "postal_code",
    "address",
    "phone_home",
    "phone_mobile",
    "email",
    "status",
    "cancelled_on",
    "fee_exempt",
    "paper_required",
)
#: The debit account: bank and branch names, the account number's last four digits only.
DEBIT_COLUMNS = ("debit_bank", "debit_branch", "debit_account_last4")
OPTIONAL: tuple[str, ...] = DEBIT_COLUMNS

#: The columns that describe the member (not the card): equal on every row of one member.
MEMBER_COLUMNS = REQUIRED[REQUIRED.index("name_kanji") :]
#: Member model fields written from the file (``program_excluded`` is derived).
MEMBER_FIELDS = (
    "name_kanji",
    "name_kana",
    "birth_date",
    "postal_code",
    "address",
    "email",
    "status",
    "cancelled_on",
    "fee_exempt",
    "paper_required",
    "program_excluded",
)

MEMBER_NO_RE = re.compile(r"[0-9A-Za-z]{1,20}", re.ASCII)
_POSTAL_RE = re.compile(r"([0-9]{3})-?([0-9]{4})", re.ASCII)
_PHONE_RE = re.compile(r"0[0-9]{9,10}", re.ASCII)
_KANA_RE = re.compile(r"[\u30a0-\u30ff\u3000 ]+")
_NAME_KANJI_MAX = max_length(Member, "name_kanji")
_NAME_KANA_MAX = max_length(Member, "name_kana")
_ADDRESS_MAX = max_length(Member, "address")
_EMAIL_MAX = max_length(Member, "email")
_DEBIT_BANK_MAX = max_length(Member, "debit_bank")
_DEBIT_BRANCH_MAX = max_length(Member, "debit_branch")
_ACCOUNT_LAST4_RE = re.compile(r"[0-9]{4}", re.ASCII)
#: The plain addresses nearly every member has (ASCII dot-atom local part, ASCII host names):
#: each of at most 320 characters is one ``validate_email`` accepts, checked in a tenth of its
#: time; anything else goes to ``validate_email`` (tests/imports/test_member_rules.py).
PLAIN_EMAIL_RE = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}",
    re.ASCII,
)
#: Computed once: ``Status.values`` builds its list on every call.
_STATUSES = frozenset(Member.Status.values)


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_member_no(text: str) -> str:
    value = half(text)
    if not MEMBER_NO_RE.fullmatch(value):
        raise FieldError("not a member number (1–20 letters or digits)")
    return value


def _postal(text: str) -> str:
    value = half(text)
    if not value:
        return ""
    match = _POSTAL_RE.fullmatch(value)
    if not match:
        raise FieldError("not a postal code (NNN-NNNN)")
    return f"{match.group(1)}-{match.group(2)}"


def _phone(text: str) -> str:
    # Digits only already (what core systems send): nothing for normalize_digits to change.
    value = text if text.isdigit() and text.isascii() else normalize_digits(text)
    if value and not _PHONE_RE.fullmatch(value):
        raise FieldError("not a phone number (10 or 11 digits starting with 0)")
    return value


def _kana(text: str) -> str:
    # Core systems often send half-width kana (ﾓﾘｵｶ ﾀﾛｳ); NFKC makes it full-width.
    value = to_half_width(text).strip()
    if not value:
        raise FieldError("empty: a value is required")
    if not _KANA_RE.fullmatch(value):
        raise FieldError("not katakana")
    if len(value) > _NAME_KANA_MAX:
        raise FieldError(f"longer than {_NAME_KANA_MAX} characters")
    return value


def _account_last4(text: str) -> str | None:
    """None (not sent), or exactly four digits: the end of the account number, never all of it."""
    value = half(text)
    if value and not _ACCOUNT_LAST4_RE.fullmatch(value):
        raise FieldError("not the last four digits of an account number (4 digits)")
    return value or None


def _debit_text(text: str, *, max_length: int) -> str | None:
    """A bank or branch name, or None when the column is empty (the model's "not sent")."""
    return text_field(text, max_length=max_length, required=False) or None


def parse_email(text: str, *, max_length: int = _EMAIL_MAX) -> str:
    """Empty, or an email address of at most ``max_length`` (its column's) characters:
    ``validate_email`` alone allows 320, more than an ``EmailField`` holds."""
    value = half(text)
    if value and not (len(value) <= max_length and PLAIN_EMAIL_RE.fullmatch(value)):
        try:
            validate_email(value)
        except ValidationError:
            raise FieldError("not an email address") from None
        if len(value) > max_length:
            raise FieldError(f"longer than {max_length} characters")
    return value


def _status(text: str) -> str:
    value = half(text)
    if value not in _STATUSES:
        raise FieldError("must be active or cancelled")
    return value


@dataclass(slots=True)
class ParsedMember:
    """A checked member of the file: its first line, that line's member columns as sent (later
    card rows must agree with them), the member fields in ``fields`` order, and its cards."""

    line: int
    raw: tuple[str, ...]
    values: tuple[object, ...]
    phones: dict[str, str]
    cards: list[ParsedCard] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.values[_STATUS_AT] == Member.Status.ACTIVE

    @property
    def program_excluded(self) -> bool:
        return all(card.excluded for card in self.cards)


@dataclass(slots=True)
class ParsedCard:
    line: int
    number_hash: str
    last4: str
    expiry: str
    product_id: int
    excluded: bool


@dataclass
class MemberFile:
    """What the writers get: the checked members by number, and the member fields the file
    sets (``program_excluded`` last, derived from the cards)."""

    members: dict[str, ParsedMember]
    fields: tuple[str, ...]

    def values(self, member: ParsedMember) -> dict[str, object]:
        """The member's field values by name, ``program_excluded`` included."""
        return dict(zip(self.fields, (*member.values, member.program_excluded), strict=True))


#: Where ``status`` sits in ``ParsedMember.values`` (the member fields in file order).
_STATUS_AT = MEMBER_FIELDS.index("status")


def load(*, file: ParsedFile, batch: ImportBatch) -> Counts:
    header, problems = file.header, file.problems
    sent = [column for column in DEBIT_COLUMNS if column in header]
    if sent and len(sent) != len(DEBIT_COLUMNS):
        problems.add_file(
            "the debit account columns come together: debit_bank, debit_branch and "
            f"debit_account_last4 (the header has only {', '.join(sent)})"
        )
        raise ImportRefused(problems)
    with_debit = bool(sent)
    member_columns = MEMBER_COLUMNS + (DEBIT_COLUMNS if with_debit else ())
    member_fields = MEMBER_FIELDS + (DEBIT_COLUMNS if with_debit else ())
    # The file's own fields first, in file order; program_excluded (derived) last.
    fields = tuple(name for name in member_fields if name != "program_excluded")
    products = {p.code: p for p in Product.objects.all()}
    birth = DateParser()
    cancelled = DateParser()
    expiry = MonthParser()
    today = today_jst()
    parsers: dict[str, Callable[[str], object]] = {
        "name_kanji": lambda t: text_field(t, max_length=_NAME_KANJI_MAX, required=True),
        "name_kana": _kana,
        "birth_date": birth,
        "postal_code": _postal,
        "address": lambda t: text_field(t, max_length=_ADDRESS_MAX, required=False),
        "phone_home": _phone,
        "phone_mobile": _phone,
        "email": parse_email,
        "status": _status,
        "cancelled_on": lambda t: cancelled(t) if half(t) else None,
        "fee_exempt": parse_flag,
        "paper_required": parse_flag,
    }
    if with_debit:
        parsers["debit_bank"] = lambda t: _debit_text(t, max_length=_DEBIT_BANK_MAX)
        parsers["debit_branch"] = lambda t: _debit_text(t, max_length=_DEBIT_BRANCH_MAX)
        parsers["debit_account_last4"] = _account_last4
    # Bound once: (column, its position in the row, its position among the member columns,
    # its parser), so the hot loop does no name lookups.
    positions = [header[column] for column in member_columns]
    bound = [
        (column, header[column], member_columns.index(column), parse)
        for column, parse in parsers.items()
    ]
    member_no_at = header["member_no"]
    phone_at = (member_columns.index("phone_home"), member_columns.index("phone_mobile"))
    value_at = [member_columns.index(name) for name in fields]
    members: dict[str, ParsedMember] = {}
    card_lines: dict[str, int] = {}
    counts = Counts()
    # The parse keeps every object it makes until the end and makes no cycles: the cycle
    # collector would only walk the growing heap again and again (a fifth of the parse).
    with _cycle_collector_paused():
        for line, row in file.rows:
            counts.rows += 1
            try:
                member_no = parse_member_no(row[member_no_at])
            except FieldError as error:
                problems.add(line, "member_no", row[member_no_at], str(error))
                continue
            raw = tuple([row[at] for at in positions])
            known = members.get(member_no)
            if known is not None and raw == known.raw:
                # A further card of a member, its member columns as on the first row: parsed they
                # would be too, so they are not parsed again.
                card = _parse_card(line, row, header, products, expiry, card_lines, problems)
                if card is not None:
                    known.cards.append(card)
                continue
            parsed: list[object] = [None] * len(member_columns)
            bad = False
            for column, at, slot, parse in bound:
                try:
                    parsed[slot] = parse(row[at])
                except FieldError as error:
                    problems.add(line, column, row[at], str(error))
                    bad = True
            if not bad:
                values = dict(zip(member_columns, parsed, strict=True))
                bad = not _check_member(
                    line, values, dict(zip(member_columns, raw, strict=True)), today, problems
                )
            card = _parse_card(line, row, header, products, expiry, card_lines, problems)
            if bad or card is None:
                continue
            if known is not None:
                if _agrees(line, raw, known, member_columns, problems):
                    known.cards.append(card)
                continue
            phones = {
                Phone.Kind.HOME.value: str(parsed[phone_at[0]]),
                Phone.Kind.MOBILE.value: str(parsed[phone_at[1]]),
            }
            members[member_no] = ParsedMember(
                line, raw, tuple([parsed[at] for at in value_at]), phones, [card]
            )
    file.advance(counts.rows)
    if problems:
        raise ImportRefused(problems)
    counts.unit, counts.items = "members", len(members)
    checked = MemberFile(members=members, fields=(*fields, "program_excluded"))
    if connection.vendor == "postgresql":
        member_merge.merge(checked, counts, problems)
    else:
        _check_card_owners(members, problems)
        if problems:
            raise ImportRefused(problems)
        _write(checked, counts)
    if problems:
        raise ImportRefused(problems)
    return counts


def _agrees(
    line: int,
    raw: tuple[str, ...],
    known: ParsedMember,
    member_columns: tuple[str, ...],
    problems: Problems,
) -> bool:
    """Whether a further card row's member columns say what the member's first row said
    (widths and surrounding spaces aside); the first that differs is reported."""
    for column, value, first in zip(member_columns, raw, known.raw, strict=True):
        if half(value) != half(first):
            problems.add(
                line,
                column,
                value,
                f"differs from line {known.line} of the same member_no "
                f"('{show_value(first)}'): member fields must agree on every card row",
            )
            return False
    return True


def _check_member(
    line: int, values: dict[str, object], raw: dict[str, str], today: dt.date, problems: Problems
) -> bool:
    birth_date = values["birth_date"]
    assert isinstance(birth_date, dt.date)
    if birth_date > today:
        problems.add(line, "birth_date", raw["birth_date"], "in the future")
        return False
    if values["status"] == Member.Status.CANCELLED and values["cancelled_on"] is None:
        problems.add(line, "cancelled_on", raw["cancelled_on"], "required when status is cancelled")
        return False
    if values["status"] == Member.Status.ACTIVE and values["cancelled_on"] is not None:
        problems.add(
            line, "cancelled_on", raw["cancelled_on"], "must be empty when status is active"
        )
        return False
    if "debit_bank" in values and any(values[column] for column in DEBIT_COLUMNS):
        # A bank without an account, or an account without its bank, is no debit account.
        for column in ("debit_bank", "debit_account_last4"):
            if not values[column]:
                problems.add(
                    line, column, raw[column], "required with the other debit account columns"
                )
                return False
    return True


def _parse_card(
    line: int,
    row: list[str],
    header: Header,
    products: dict[str, Product],
    expiry: MonthParser,
    card_lines: dict[str, int],
    problems: Problems,
) -> ParsedCard | None:
    ok = True
    raw_number = row[header["card_no"]]
    # Digits only already (what core systems send): nothing for the normalisation to change.
    digits = (
        raw_number
        if raw_number.isdigit() and raw_number.isascii()
        else card_numbers.normalize_card_number(raw_number)
    )
    number_hash = ""
    if not card_numbers.is_card_number(digits):
        problems.add(
            line,
            "card_no",
            raw_number,
            f"not a card number ({card_numbers.MIN_DIGITS}–{card_numbers.MAX_DIGITS} digits)",
            card=True,
        )
        ok = False
    else:
        number_hash = card_numbers.card_hash(digits)
        if number_hash in card_lines:
            problems.add(
                line,
                "card_no",
                raw_number,
                f"duplicate: the same card is on line {card_lines[number_hash]}",
                card=True,
            )
            ok = False
        else:
            card_lines[number_hash] = line
    raw_expiry = row[header["card_expiry"]]
    card_expiry = ""
    try:
        card_expiry = expiry(raw_expiry)
    except FieldError as error:
        problems.add(line, "card_expiry", raw_expiry, str(error))
        ok = False
    raw_product = row[header["product_code"]]
    product = products.get(half(raw_product))
    if product is None:
        problems.add(
            line, "product_code", raw_product, "unknown product code (import products first)"
        )
        ok = False
    if not ok or product is None:
        return None
    return ParsedCard(
        line,
        number_hash,
        digits[-4:],
        card_expiry,
        product.pk,
        product.program_excluded,
    )


def _check_card_owners(members: dict[str, ParsedMember], problems: Problems) -> None:
    """A card already held by another member is an error, not a silent move (the SQL twin:
    ``member_merge.refuse_cards_of_others``)."""
    by_hash = {card.number_hash: (no, card) for no, m in members.items() for card in m.cards}
    for part in chunked(list(by_hash), 2000):
        for number_hash, owner_no, last4 in Card.objects.filter(number_hash__in=part).values_list(
            "number_hash", "member__member_no", "last4"
        ):
            member_no, card = by_hash[number_hash]
            if owner_no != member_no:
                problems.add(
                    card.line,
                    "card_no",
                    last4,
                    f"the card belongs to member {owner_no}",
                    card=True,
                )


def _write(checked: MemberFile, counts: Counts) -> None:
    """Any database (SQLite): compare with the stored members in Python, write by the ORM."""
    members, member_fields = checked.members, checked.fields
    existing: dict[str, Member] = {}
    for part in chunked(list(members), 2000):
        existing.update((m.member_no, m) for m in Member.objects.filter(member_no__in=part))
    new: list[Member] = []
    changed: list[Member] = []
    touched: set[str] = set()
    for member_no, parsed in members.items():
        values = checked.values(parsed)
        member = existing.get(member_no)
        if member is None:
            new.append(Member(member_no=member_no, **values))
            continue
        if any(getattr(member, name) != values[name] for name in member_fields):
            for name in member_fields:
                setattr(member, name, values[name])
            changed.append(member)
            touched.add(member_no)
    Member.objects.bulk_create(new, batch_size=1000)
    Member.objects.bulk_update(changed, list(member_fields), batch_size=500)
    for member in new:
        existing[member.member_no] = member
    counts.inserted = len(new)
    touched |= _write_cards(members, existing)
    touched |= _write_phones(members, existing)
    counts.updated = len(touched - {m.member_no for m in new})


def _write_cards(members: dict[str, ParsedMember], by_no: dict[str, Member]) -> set[str]:
    touched: set[str] = set()
    member_ids = [by_no[no].pk for no in members]
    current: dict[str, Card] = {}
    for part in chunked(member_ids, 2000):
        current.update((c.number_hash, c) for c in Card.objects.filter(member_id__in=part))
    new: list[Card] = []
    changed: list[Card] = []
    listed: set[str] = set()
    for member_no, parsed in members.items():
        member = by_no[member_no]
        active = parsed.active
        for card in parsed.cards:
            listed.add(card.number_hash)
            found = current.get(card.number_hash)
            if found is None:
                new.append(
                    Card(
                        member=member,
                        product_id=card.product_id,
                        number_hash=card.number_hash,
                        last4=card.last4,
                        expiry=card.expiry,
                        is_active=active,
                    )
                )
                touched.add(member_no)
            elif (found.product_id, found.expiry, found.is_active) != (
                card.product_id,
                card.expiry,
                active,
            ):
                found.product_id, found.expiry, found.is_active = (
                    card.product_id,
                    card.expiry,
                    active,
                )
                changed.append(found)
                touched.add(member_no)
    no_by_id = {member.pk: no for no, member in by_no.items()}
    for number_hash, found in current.items():
        # A card of a listed member that the file no longer lists was replaced or withdrawn.
        if number_hash not in listed and found.is_active:
            found.is_active = False
            changed.append(found)
            touched.add(no_by_id[found.member_id])
    Card.objects.bulk_create(new, batch_size=1000)
    Card.objects.bulk_update(changed, ["product_id", "expiry", "is_active"], batch_size=500)
    return touched


def _write_phones(members: dict[str, ParsedMember], by_no: dict[str, Member]) -> set[str]:
    touched: set[str] = set()
    current: dict[tuple[int, str], Phone] = {}
    for part in chunked([by_no[no].pk for no in members], 2000):
        current.update(((p.member_id, p.kind), p) for p in Phone.objects.filter(member_id__in=part))
    new: list[Phone] = []
    changed: list[Phone] = []
    gone: list[int] = []
    for member_no, parsed in members.items():
        member = by_no[member_no]
        for kind, number in parsed.phones.items():
            found = current.get((member.pk, kind))
            if found is None and number:
                new.append(Phone(member=member, kind=kind, number=number))
                touched.add(member_no)
            elif found is not None and not number:
                gone.append(found.pk)
                touched.add(member_no)
            elif found is not None and found.number != number:
                found.number = number
                changed.append(found)
                touched.add(member_no)
    Phone.objects.bulk_create(new, batch_size=1000)
    Phone.objects.bulk_update(changed, ["number"], batch_size=500)
    for part in chunked(gone, 2000):
        Phone.objects.filter(pk__in=part).delete()
    return touched


def program_excluded_refresh(*, member_ids: Iterable[int]) -> int:
    """Derive ``Member.program_excluded`` again after products changed; returns members changed.

    A member is excluded when every active card is of an excluded product (a member with no
    active card: every card).
    """
    changed = 0
    for part in chunked(sorted(set(member_ids)), 1000):
        cards_of: dict[int, list[tuple[bool, bool]]] = {}
        for member_id, active, excluded in Card.objects.filter(member_id__in=part).values_list(
            "member_id", "is_active", "product__program_excluded"
        ):
            cards_of.setdefault(member_id, []).append((active, excluded))
        for member in Member.objects.filter(pk__in=part):
            held = cards_of.get(member.pk, [])
            considered = [excluded for active, excluded in held if active] or [
                excluded for _, excluded in held
            ]
            derived = bool(considered) and all(considered)
            if member.program_excluded != derived:
                member.program_excluded = derived
                member.save(update_fields=["program_excluded", "updated_at"])
                changed += 1
    return changed
