"""enrollments: legacy 本人認証サービス accounts (flyer member kind ①).

``member_no, login_id, password_hash, personal_message, email, enrolled_at``

Each row becomes a web account that logs in with the member's existing ID and password (a
legacy PBKDF2 or bcrypt hash is stored wrapped in Argon2id, so that checking it costs what
checking any other password costs, and becomes plain Argon2id at the first login) and a
本人認証サービス enrolment of source ``legacy``. The delivery preference is not touched:
legacy members stop paper themselves (flyer ①). ``enrolled_at`` is Japan time when it carries
no offset; the enrolment's ``updated_at`` is set to it, so these enrolments (which the ACS
already knows) are not exported back as new.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from meisai.accounts import login_ids
from meisai.accounts.hashers import LegacyHashTooLong, legacy_hash_check, legacy_hash_wrap
from meisai.accounts.login_ids import (
    LoginIdProblem,
    login_id_key,
    login_id_key_sql,
    login_id_problem,
)
from meisai.accounts.models import Account, Enrollment
from meisai.imports.columns import max_length
from meisai.imports.formats import Counts, ParsedFile, chunked
from meisai.imports.formats.members import parse_email, parse_member_no
from meisai.imports.models import ImportBatch
from meisai.imports.reading import FieldError, ImportRefused, half, parse_moment, text_field
from meisai.members.models import Member

REQUIRED = ("member_no", "login_id", "password_hash", "personal_message", "email", "enrolled_at")
OPTIONAL: tuple[str, ...] = ()

_PASSWORD_MAX = max_length(Account, "password")
_MESSAGE_MAX = max_length(Account, "personal_message")
_EMAIL_MAX = max_length(Account, "email")


def parse_login_id(text: str) -> str:
    """The members' login ID rule (``meisai.accounts.login_ids``)."""
    value = half(text)
    problem = login_id_problem(value)
    if problem is LoginIdProblem.SHAPE:
        raise FieldError(
            f"not a login ID ({login_ids.MIN_LENGTH}–{login_ids.MAX_LENGTH} letters, digits,"
            " '.', '_' or '-')"
        )
    if problem is LoginIdProblem.ALL_DIGITS:
        raise FieldError("a login ID must not be all digits")
    return value


def _password_hash(text: str) -> str:
    """A hash meisai can check; it is wrapped in Argon2id only when its row is stored."""
    value = text.strip()
    # A current hash (Argon2, scrypt) is stored as it came: it must fit the column itself.
    if len(value) > _PASSWORD_MAX:
        raise FieldError(f"longer than {_PASSWORD_MAX} characters")
    try:
        legacy_hash_check(value)
    except LegacyHashTooLong as error:
        raise FieldError(f"the legacy salt is too long to store: {error}") from None
    except ValueError:
        raise FieldError("not a password hash meisai can read (e.g. pbkdf2_sha256$…)") from None
    return value


@dataclass
class _Row:
    line: int
    member_no: str
    login_id: str
    password_hash: str
    personal_message: str
    email: str
    enrolled_at: dt.datetime


def load(*, file: ParsedFile, batch: ImportBatch) -> Counts:
    header, problems = file.header, file.problems
    parsers = {
        "member_no": parse_member_no,
        "login_id": parse_login_id,
        "password_hash": _password_hash,
        "personal_message": lambda t: text_field(t, max_length=_MESSAGE_MAX, required=True),
        "email": lambda t: parse_email(t, max_length=_EMAIL_MAX),
        "enrolled_at": parse_moment,
    }
    rows: list[_Row] = []
    by_member: dict[str, int] = {}
    by_login: dict[str, int] = {}
    counts = Counts()
    for line, fields in file.rows:
        counts.rows += 1
        values: dict[str, object] = {}
        for column, parse in parsers.items():
            raw = fields[header[column]]
            try:
                values[column] = parse(raw)
            except FieldError as error:
                # The hash is a secret of sorts: never echo it back.
                shown = "…" if column == "password_hash" else raw
                problems.add(line, column, shown, str(error))
        if len(values) != len(parsers):
            continue
        row = _Row(line=line, **values)  # type: ignore[arg-type]
        if row.member_no in by_member:
            problems.add(
                line,
                "member_no",
                row.member_no,
                f"duplicate: already on line {by_member[row.member_no]}",
            )
            continue
        if login_id_key(row.login_id) in by_login:
            problems.add(
                line,
                "login_id",
                row.login_id,
                f"duplicate (case ignored): already on line {by_login[login_id_key(row.login_id)]}",
            )
            continue
        by_member[row.member_no] = line
        by_login[login_id_key(row.login_id)] = line
        rows.append(row)
    file.advance(counts.rows)

    # Checks against stored data run even when rows were refused above: one run, every problem.
    members: dict[str, Member] = {}
    for part in chunked([r.member_no for r in rows], 2000):
        members.update((m.member_no, m) for m in Member.objects.filter(member_no__in=part))
    taken: dict[str, Account] = {}
    for part in chunked([login_id_key(r.login_id) for r in rows], 2000):
        for found in Account.objects.annotate(login=login_id_key_sql()).filter(login__in=part):
            taken[login_id_key(found.login_id)] = found
    active: dict[int, Account] = {}
    for part in chunked([m.pk for m in members.values()], 2000):
        for account in Account.objects.filter(member_id__in=part, is_active=True):
            if account.member_id is not None:
                active[account.member_id] = account
    enrolled: set[str] = set()
    for part in chunked([login_id_key(r.login_id) for r in rows], 2000):
        enrolled.update(
            Enrollment.objects.annotate(login=login_id_key_sql())
            .filter(login__in=part)
            .values_list("login", flat=True)
        )
    todo: list[tuple[_Row, Member]] = []
    for row in rows:
        member = members.get(row.member_no)
        if member is None:
            problems.add(row.line, "member_no", row.member_no, "unknown member number")
            continue
        holder = taken.get(login_id_key(row.login_id))
        if holder is not None:
            if holder.member_id == member.pk and holder.source == Account.Source.LEGACY:
                continue  # imported before: no change
            problems.add(row.line, "login_id", row.login_id, "the login ID is already taken")
            continue
        if login_id_key(row.login_id) in enrolled:
            problems.add(
                row.line,
                "login_id",
                row.login_id,
                "the login ID is already enrolled for another account",
            )
            continue
        current = active.get(member.pk)
        if current is not None:
            problems.add(
                row.line,
                "member_no",
                row.member_no,
                f"the member already has another active account ({current.login_id})",
            )
            continue
        todo.append((row, member))
    if problems:
        raise ImportRefused(problems)

    accounts = Account.objects.bulk_create(
        [
            Account(
                login_id=row.login_id,
                member=member,
                email=row.email,
                personal_message=row.personal_message,
                source=Account.Source.LEGACY,
                # Wrapped in Argon2id, so that a wrong password for a legacy ID costs what it
                # costs for any other ID. One Argon2id run per new row: done only for the rows
                # stored, once every check has passed.
                password=legacy_hash_wrap(row.password_hash),
            )
            for row, member in todo
        ],
        batch_size=1000,
    )
    Enrollment.objects.bulk_create(
        [
            Enrollment(
                member=member,
                account=account,
                login_id=row.login_id,
                source=Enrollment.Source.LEGACY,
                enrolled_at=row.enrolled_at,
                updated_at=row.enrolled_at,
            )
            for (row, member), account in zip(todo, accounts, strict=True)
        ],
        batch_size=1000,
    )
    counts.inserted = len(todo)
    return counts
