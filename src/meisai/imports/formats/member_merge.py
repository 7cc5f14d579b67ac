"""PostgreSQL: a checked member file merged into the member master by staging tables and
set-based SQL, in the caller's transaction.

The member and card rows go by ``COPY`` (text format built by hand) into two temporary staging
tables; then, each one statement over the whole file:

1. **a card held by another member** is refused, with the file's line (the twin of
   ``members._check_card_owners``, the rule on other databases);
2. **members** are inserted, or updated where a field differs (``INSERT … ON CONFLICT
   (member_no) DO UPDATE … WHERE … IS DISTINCT FROM``): an unchanged member is not written;
3. **cards** likewise by their keyed hash, and the active cards of a listed member that the file
   no longer lists become inactive;
4. **phones**: one per kind, an empty column removes that phone.

Which members a statement changed is kept in a temporary table, so the counts say what the
ORM-based writer says: new members, and members whose row, cards or phones changed. While no
member of the file is stored yet (the first import of a master), the statements are plain
``INSERT … SELECT`` and nothing needs keeping.

Table and column names come from the models' metadata; nothing from the file is ever part of
the SQL text. No card number reaches the database: only its keyed hash and last four digits.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from django.db import connection, models

from meisai.clock import now
from meisai.core.raw_cursor import raw_cursor
from meisai.imports.columns import model_field
from meisai.imports.formats import Counts
from meisai.imports.reading import Problems
from meisai.members.models import Card, Member, Phone

if TYPE_CHECKING:
    from meisai.imports.formats.members import MemberFile

_MEMBERS = "meisai_member_stage"
_CARDS = "meisai_card_stage"
#: The members a statement of this import changed (rows, cards, phones); ``inserted``: new.
_TOUCHED = "meisai_member_touched"

MEMBER = Member._meta.db_table
CARD = Card._meta.db_table
PHONE = Phone._meta.db_table
#: The card columns a file sets (after the member and the hash).
CARD_FIELDS = ("product", "last4", "expiry", "is_active")
#: The card columns a re-import may change.
CARD_CHANGING = ("product_id", "expiry", "is_active")


def _column(model: Any, name: str) -> str:
    found = model_field(model, name).column
    assert found is not None, name
    return found


def _typed(model: Any, name: str) -> str:
    return f"{_column(model, name)} {model_field(model, name).db_type(connection)}"


def merge(checked: MemberFile, counts: Counts, problems: Problems) -> None:
    """Stage ``checked``, refuse cards held by other members (into ``problems``), then write
    members, cards and phones; ``counts`` get the new and changed members."""
    with raw_cursor() as cursor:
        # As for the close (statements/close.py): a few statements over a million rows each,
        # whose hash joins and transition tables fit in memory instead of spilling to disk in
        # batches, and for which JIT compilation costs more than it saves. Until the commit.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '256MB'")
        _stage(cursor, checked)
        refuse_cards_of_others(cursor, problems)
        if problems:
            return
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {_MEMBERS} s JOIN {MEMBER} m USING (member_no))"  # noqa: S608
        )
        stored = cursor.fetchone()[0]
        moment = now()
        if stored:
            counts.inserted, counts.updated = _merge_stored(cursor, checked.fields, moment)
        else:
            counts.inserted = _insert_new(cursor, checked.fields, moment)
        for table in (_MEMBERS, _CARDS, _TOUCHED):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


def _stage(cursor: Any, checked: MemberFile) -> None:
    """The two staging tables, filled by COPY: a member row (the file's fields, then its two
    phones) per member, a card row per card."""
    member_columns = ", ".join(_typed(Member, name) for name in checked.fields)
    phone = model_field(Phone, "number").db_type(connection)
    card_columns = ", ".join(_typed(Card, name) for name in CARD_FIELDS)
    for table, columns in (
        (
            _MEMBERS,
            f"file_line integer, {_typed(Member, 'member_no')}, {member_columns},"
            f" phone_home {phone}, phone_mobile {phone}",
        ),
        (
            _CARDS,
            f"file_line integer, {_typed(Member, 'member_no')},"
            f" {_typed(Card, 'number_hash')}, {card_columns}",
        ),
    ):
        # A temporary table is never WAL-logged and vanishes with the transaction.
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TEMP TABLE {table} ({columns}) ON COMMIT DROP")
    home, mobile = Phone.Kind.HOME.value, Phone.Kind.MOBILE.value
    # One formatter per field, chosen once by the field's type, rather than a test of each
    # value's type (a million members of 14 fields each).
    formats = [_format_of(Member, name) for name in checked.fields[:-1]]
    with cursor.copy(f"COPY {_MEMBERS} FROM STDIN") as copy:
        lines: list[str] = []
        for member_no, member in checked.members.items():
            values = "\t".join(
                [form(value) for form, value in zip(formats, member.values, strict=True)]
            )
            lines.append(
                f"{member.line}\t{member_no}\t{values}\t{_bool(member.program_excluded)}\t"
                f"{member.phones[home]}\t{member.phones[mobile]}\n"
            )
            if len(lines) >= 10_000:
                copy.write("".join(lines))
                lines = []
        copy.write("".join(lines))
    with cursor.copy(f"COPY {_CARDS} FROM STDIN") as copy:
        lines = []
        for member_no, member in checked.members.items():
            active = _bool(member.active)
            for card in member.cards:
                # Checked already: hash (hex), last4 (digits), expiry (YYYY-MM), product id.
                lines.append(
                    f"{card.line}\t{member_no}\t{card.number_hash}\t{card.product_id}\t"
                    f"{card.last4}\t{card.expiry}\t{active}\n"
                )
            if len(lines) >= 10_000:
                copy.write("".join(lines))
                lines = []
        copy.write("".join(lines))
    # A temporary table has no statistics until it is analysed: without them the planner
    # guesses the staged file's size from nothing and joins it to the member table as if small.
    for table in (_MEMBERS, _CARDS):
        cursor.execute(f"ANALYZE {table}")


def refuse_cards_of_others(cursor: Any, problems: Problems) -> None:
    """A card already held by another member is an error, not a silent move (the rule of
    ``members._check_card_owners``, in one anti-join over the file's cards)."""
    cursor.execute(
        f"SELECT s.file_line, c.last4, m.member_no FROM {_CARDS} s"  # noqa: S608
        f" JOIN {CARD} c ON c.number_hash = s.number_hash"
        f" JOIN {MEMBER} m ON m.id = c.member_id"
        f" WHERE m.member_no <> s.member_no ORDER BY s.file_line"
    )
    for line, last4, owner_no in cursor.fetchall():
        problems.add(line, "card_no", last4, f"the card belongs to member {owner_no}", card=True)


def _member_columns(fields: tuple[str, ...]) -> str:
    return ", ".join(_column(Member, name) for name in fields)


def _insert_new(cursor: Any, fields: tuple[str, ...], moment: dt.datetime) -> int:
    """No member of the file is stored: plain inserts, every member new."""
    columns = _member_columns(fields)
    cursor.execute(
        f"INSERT INTO {MEMBER} (member_no, {columns}, created_at, updated_at)"  # noqa: S608
        f" SELECT member_no, {columns}, %s, %s FROM {_MEMBERS}",
        [moment, moment],
    )
    inserted = cursor.rowcount
    cursor.execute(
        f"INSERT INTO {CARD} (member_id, number_hash, product_id, last4, expiry, is_active,"  # noqa: S608
        f" created_at, updated_at)"
        f" SELECT m.id, s.number_hash, s.product_id, s.last4, s.expiry, s.is_active, %s, %s"
        f" FROM {_CARDS} s JOIN {MEMBER} m USING (member_no)",
        [moment, moment],
    )
    cursor.execute(
        f"INSERT INTO {PHONE} (member_id, kind, number)"  # noqa: S608
        f" SELECT m.id, p.kind, p.number FROM {_phones()} JOIN {MEMBER} m USING (member_no)"
        f" WHERE p.number <> ''",
        _phone_kinds(),
    )
    return inserted


def _phones() -> str:
    """The file's phones, one row per member and kind (``member_no, kind, number``; an empty
    number: that phone is removed)."""
    return (
        f"(SELECT s.member_no, k.kind,"  # noqa: S608
        f" CASE WHEN k.kind = %s THEN s.phone_home ELSE s.phone_mobile END AS number"
        f" FROM {_MEMBERS} s CROSS JOIN (VALUES (%s), (%s)) AS k (kind)) AS p"
    )


def _phone_kinds() -> list[str]:
    home, mobile = Phone.Kind.HOME.value, Phone.Kind.MOBILE.value
    return [home, home, mobile]


def _merge_stored(cursor: Any, fields: tuple[str, ...], moment: dt.datetime) -> tuple[int, int]:
    """Some members of the file are stored: upserts that write only what differs, each
    statement's changed members kept in :data:`_TOUCHED`; returns (new, changed) members."""
    columns = _member_columns(fields)
    differs = (
        f"({', '.join(f'{MEMBER}.{c}' for c in columns.split(', '))})"
        f" IS DISTINCT FROM ({', '.join(f'EXCLUDED.{c}' for c in columns.split(', '))})"
    )
    assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns.split(", "))
    cursor.execute(f"DROP TABLE IF EXISTS {_TOUCHED}")
    cursor.execute(
        f"CREATE TEMP TABLE {_TOUCHED} (member_id bigint, inserted boolean) ON COMMIT DROP"
    )
    # xmax = 0: the row was inserted by this statement, not updated.
    cursor.execute(
        f"WITH written AS ("  # noqa: S608
        f" INSERT INTO {MEMBER} (member_no, {columns}, created_at, updated_at)"
        f" SELECT member_no, {columns}, %s, %s FROM {_MEMBERS}"
        f" ON CONFLICT (member_no) DO UPDATE SET {assignments}, updated_at = EXCLUDED.updated_at"
        f" WHERE {differs}"
        f" RETURNING {MEMBER}.id, {MEMBER}.xmax = 0)"
        f" INSERT INTO {_TOUCHED} SELECT * FROM written",
        [moment, moment],
    )
    changing = ", ".join(f"{CARD}.{c}" for c in CARD_CHANGING)
    sent = ", ".join(f"EXCLUDED.{c}" for c in CARD_CHANGING)
    cursor.execute(
        f"WITH written AS ("  # noqa: S608
        f" INSERT INTO {CARD} (member_id, number_hash, product_id, last4, expiry, is_active,"
        f" created_at, updated_at)"
        f" SELECT m.id, s.number_hash, s.product_id, s.last4, s.expiry, s.is_active, %s, %s"
        f" FROM {_CARDS} s JOIN {MEMBER} m USING (member_no)"
        f" ON CONFLICT (number_hash) DO UPDATE SET"
        f" {', '.join(f'{c} = EXCLUDED.{c}' for c in CARD_CHANGING)},"
        f" updated_at = EXCLUDED.updated_at"
        f" WHERE ({changing}) IS DISTINCT FROM ({sent})"
        f" RETURNING {CARD}.member_id)"
        f" INSERT INTO {_TOUCHED} SELECT member_id, false FROM written",
        [moment, moment],
    )
    # A card of a listed member that the file no longer lists was replaced or withdrawn.
    cursor.execute(
        f"WITH written AS ("  # noqa: S608
        f" UPDATE {CARD} c SET is_active = false, updated_at = %s"
        f" FROM {_MEMBERS} s JOIN {MEMBER} m USING (member_no)"
        f" WHERE c.member_id = m.id AND c.is_active"
        f" AND NOT EXISTS (SELECT 1 FROM {_CARDS} k WHERE k.number_hash = c.number_hash)"
        f" RETURNING c.member_id)"
        f" INSERT INTO {_TOUCHED} SELECT member_id, false FROM written",
        [moment],
    )
    cursor.execute(
        f"WITH written AS ("  # noqa: S608
        f" DELETE FROM {PHONE} ph USING {_phones()} JOIN {MEMBER} m USING (member_no)"
        f" WHERE ph.member_id = m.id AND ph.kind = p.kind AND p.number = ''"
        f" RETURNING ph.member_id)"
        f" INSERT INTO {_TOUCHED} SELECT member_id, false FROM written",
        _phone_kinds(),
    )
    cursor.execute(
        f"WITH written AS ("  # noqa: S608
        f" INSERT INTO {PHONE} (member_id, kind, number)"
        f" SELECT m.id, p.kind, p.number FROM {_phones()} JOIN {MEMBER} m USING (member_no)"
        f" WHERE p.number <> ''"
        f" ON CONFLICT (member_id, kind) DO UPDATE SET number = EXCLUDED.number"
        f" WHERE {PHONE}.number <> EXCLUDED.number"
        f" RETURNING {PHONE}.member_id)"
        f" INSERT INTO {_TOUCHED} SELECT member_id, false FROM written",
        _phone_kinds(),
    )
    cursor.execute(
        f"SELECT (SELECT count(*) FROM {_TOUCHED} WHERE inserted),"  # noqa: S608
        f" (SELECT count(DISTINCT t.member_id) FROM {_TOUCHED} t WHERE NOT t.inserted"
        f" AND NOT EXISTS (SELECT 1 FROM {_TOUCHED} i WHERE i.inserted"
        f" AND i.member_id = t.member_id))"
    )
    inserted, updated = cursor.fetchone()
    return inserted, updated


_ESCAPE_RE = re.compile(r"[\\\t\n\r]")
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _bool(value: bool) -> str:
    return "t" if value else "f"


def _escaped(value: str | None) -> str:
    """Checked text in COPY's text format: NULL, or backslash, tab, newline and CR escaped."""
    if value is None:
        return "\\N"
    if _ESCAPE_RE.search(value):
        return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], value)
    return value


def _format_of(model: Any, name: str) -> Any:
    """The COPY formatter of a field's checked values: text escaped, anything else by
    :func:`_text`."""
    if isinstance(model_field(model, name), models.CharField):
        return _escaped
    return _text


def _text(value: object) -> str:
    """A checked value in COPY's text format: NULL, booleans, dates, and text with backslash,
    tab, newline and CR escaped."""
    if value is None:
        return "\\N"
    if value is True or value is False:
        return _bool(value)
    if isinstance(value, str):
        if _ESCAPE_RE.search(value):
            return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], value)
        return value
    return str(value)
