"""Finding a member from what a caller tells the operator (the console's 会員検索).

One box takes any of: the member number, the name in kanji or kana (full- or half-width
katakana or hiragana, with or without the space between family and given name), a phone number
(with or without hyphens, in any width), the last four digits of a card, a login ID or an email
address (of the web account or of the member master). A bare four-digit query means the last
four digits of a card and nothing else: it would match too many phone and member numbers.

A search is a staff view of member data, so it writes an audit row (``member_search``, with the
query and what was shown) in the same call (SPEC 3.10).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jaconv
from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Replace

from meisai.accounts.login_ids import login_id_key
from meisai.accounts.models import Account
from meisai.audit.services import audit_record
from meisai.core.text import normalize_digits, to_half_width
from meisai.members.models import Card, Member, Phone

#: How many members a search shows at most; the page says when there were more.
RESULT_LIMIT = 50

_LAST_FOUR = re.compile(r"\d{4}")
_PHONE = re.compile(r"\d{10,11}")
#: Spaces people type between family and given name (ASCII after NFKC; the ideographic one too).
_SPACES = re.compile(r"[\s\u3000]+")


@dataclass(frozen=True)
class MemberRow:
    member_no: str
    name_kanji: str
    name_kana: str
    status: str
    has_web_account: bool


@dataclass(frozen=True)
class SearchResult:
    query: str
    rows: list[MemberRow]
    #: True when more members matched than :data:`RESULT_LIMIT`.
    more: bool


def _without_spaces(field: str) -> Replace:
    return Replace(Replace(field, Value(" "), Value("")), Value("\u3000"), Value(""))


def _kana(text: str) -> str:
    """Any kana as full-width katakana without spaces: ﾓﾘｵｶ ﾀﾛｳ, もりおか たろう → モリオカタロウ."""
    return _SPACES.sub("", jaconv.hira2kata(to_half_width(text)))


def member_criteria(query: str) -> Q | None:
    """The members ``query`` can mean, as a filter (None when it means nothing)."""
    text = to_half_width(query).strip()
    if not text:
        return None
    digits = normalize_digits(text)
    if _LAST_FOUR.fullmatch(digits):
        return Q(Exists(Card.objects.filter(member=OuterRef("pk"), last4=digits)))
    if "@" in text:
        return Q(email__iexact=text) | Q(
            Exists(Account.objects.filter(member=OuterRef("pk"), email__iexact=text))
        )
    criteria = Q(member_no__iexact=text) | Q(
        Exists(Account.objects.filter(member=OuterRef("pk"), login_id__iexact=login_id_key(text)))
    )
    if _PHONE.fullmatch(digits):
        criteria |= Q(Exists(Phone.objects.filter(member=OuterRef("pk"), number=digits)))
    name = _SPACES.sub("", text)
    if name and not digits.isdigit():
        criteria |= Q(name_kanji_bare__contains=name) | Q(name_kana_bare__contains=_kana(text))
    return criteria


def members_found(query: str) -> tuple[list[MemberRow], bool]:
    """The members ``query`` names, by member number, at most :data:`RESULT_LIMIT`."""
    criteria = member_criteria(query)
    if criteria is None:
        return [], False
    members: QuerySet[Member] = (
        Member.objects.annotate(
            name_kanji_bare=_without_spaces("name_kanji"),
            name_kana_bare=_without_spaces("name_kana"),
            has_web_account=Exists(Account.objects.filter(member=OuterRef("pk"), is_active=True)),
        )
        .filter(criteria)
        .order_by("member_no")
    )
    found = list(members[: RESULT_LIMIT + 1])
    rows = [
        MemberRow(
            member_no=member.member_no,
            name_kanji=member.name_kanji,
            name_kana=member.name_kana,
            status=member.get_status_display(),
            has_web_account=member.has_web_account,  # type: ignore[attr-defined]
        )
        for member in found[:RESULT_LIMIT]
    ]
    return rows, len(found) > RESULT_LIMIT


def member_search(*, query: str, actor: str, client_ip: str | None) -> SearchResult:
    """Search, and record that ``actor`` looked (``member_search``: the query and the members
    shown)."""
    rows, more = members_found(query)
    audit_record(
        actor=actor,
        action="member_search",
        detail={"q": query, "shown": [row.member_no for row in rows], "more": more},
        client_ip=client_ip,
    )
    return SearchResult(query=query, rows=rows, more=more)
