"""Writes of the points domain: campaigns as data (SPEC 3.7).

Campaigns are rows, not code: the back office (Django admin) edits them, ``meisai campaigns load
FILE`` loads them from CSV or JSON, and :func:`campaign_load_defaults` creates the flyer's
campaign. The grants themselves are made set-based by the monthly close
(``meisai.statements.close``) from the rule of ``meisai.points.eligibility``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_noop

from meisai.audit.services import audit_record
from meisai.billing_calendar import BillingMonth
from meisai.clock import JST
from meisai.members.models import Product
from meisai.points.models import Campaign, PointEntry

#: The flyer's early-registration campaign (「WEB請求明細」早期ご登録キャンペーン).
DEFAULT_CAMPAIGN_CODE = "web-early-2024"
#: Stored in Japanese; ``gettext_noop`` puts it in the catalogue so that the pages show its
#: English (``points.selectors.campaign_name``).
DEFAULT_CAMPAIGN_NAME = gettext_noop("「WEB請求明細」早期ご登録キャンペーン")
#: The card the flyer puts outside everything (岩手県学校生協 IRIS card).
DEFAULT_EXCLUDED_PRODUCT_CODES = ("IRIS",)

CAMPAIGN_FIELDS = (
    "code",
    "name",
    "window_start",
    "window_end",
    "points",
    "grant_month",
    "excluded_products",
)


class CampaignFileError(ValueError):
    """A campaign file has problems; the message holds one line per problem."""


class CampaignRefused(ValueError):
    """A campaign cannot be created or changed; the message says why."""


def campaign_problems(
    *,
    code: str,
    window_start: dt.datetime,
    window_end: dt.datetime,
    points: int,
    grant_month: BillingMonth,
    excluded_product_codes: list[str] | tuple[str, ...] = (),
) -> list[str]:
    """Why a campaign with these values cannot be saved (empty when it can).

    The back office's form and :func:`campaign_upsert` ask the same question. Besides the shape
    of the values: a campaign whose points were granted (its grant month was closed) cannot
    change any more.
    """
    problems = []
    if window_start.tzinfo is None or window_end.tzinfo is None:
        problems.append(f"{code}: campaign windows need aware datetimes")
    elif window_end < window_start:
        problems.append(f"{code}: window_end is before window_start")
    if points <= 0:
        problems.append(f"{code}: points must be positive")
    known = set(
        Product.objects.filter(code__in=excluded_product_codes).values_list("code", flat=True)
    )
    missing = sorted(set(excluded_product_codes) - known)
    if missing:
        problems.append(f"{code}: unknown product code(s): {', '.join(missing)}")
    granted = PointEntry.objects.filter(campaign__code=code).count()
    if granted:
        problems.append(f"{code}: its points were already granted to {granted} member(s)")
    return problems


@transaction.atomic
def campaign_upsert(
    *,
    code: str,
    name: str,
    window_start: dt.datetime,
    window_end: dt.datetime,
    points: int,
    grant_month: BillingMonth,
    excluded_product_codes: list[str] | tuple[str, ...] = (),
    actor: str,
) -> Campaign:
    """Create or update the campaign ``code``, audited; :class:`CampaignRefused` lists the
    problems of :func:`campaign_problems`."""
    problems = campaign_problems(
        code=code,
        window_start=window_start,
        window_end=window_end,
        points=points,
        grant_month=grant_month,
        excluded_product_codes=excluded_product_codes,
    )
    if problems:
        raise CampaignRefused("; ".join(problems))
    products = list(Product.objects.filter(code__in=excluded_product_codes).order_by("code"))
    campaign, created = Campaign.objects.update_or_create(
        code=code,
        defaults={
            "name": name,
            "window_start": window_start,
            "window_end": window_end,
            "points": points,
            "grant_month": grant_month,
        },
    )
    campaign.excluded_products.set(products)
    audit_record(
        actor=actor,
        action="campaign_create" if created else "campaign_change",
        detail={
            "code": code,
            "name": name,
            "window_start": window_start.isoformat(),
            "window_end": window_end.isoformat(),
            "points": points,
            "grant_month": str(grant_month),
            "excluded_products": [product.code for product in products],
        },
    )
    return campaign


@transaction.atomic
def campaign_load_defaults(*, actor: str) -> Campaign:
    """The flyer's campaign, created if missing (an existing one is returned untouched).

    2024-11-13 00:00:00 JST to 2025-02-28 23:59:59 JST inclusive, 1,000 points, granted in the
    close of 2025-04; the IRIS product is excluded when it exists (``member.program_excluded``
    excludes as well, whatever the campaign lists).
    """
    existing = Campaign.objects.filter(code=DEFAULT_CAMPAIGN_CODE).first()
    if existing is not None:
        return existing
    excluded = list(
        Product.objects.filter(code__in=DEFAULT_EXCLUDED_PRODUCT_CODES).values_list(
            "code", flat=True
        )
    )
    return campaign_upsert(
        code=DEFAULT_CAMPAIGN_CODE,
        name=DEFAULT_CAMPAIGN_NAME,
        window_start=dt.datetime(2024, 11, 13, 0, 0, 0, tzinfo=JST),
        window_end=dt.datetime(2025, 2, 28, 23, 59, 59, tzinfo=JST),
        points=1000,
        grant_month=BillingMonth(2025, 4),
        excluded_product_codes=excluded,
        actor=actor,
    )


@dataclass(frozen=True)
class CampaignRow:
    code: str
    name: str
    window_start: dt.datetime
    window_end: dt.datetime
    points: int
    grant_month: BillingMonth
    excluded_product_codes: tuple[str, ...]


def _parse_moment(text: str, *, end: bool) -> dt.datetime:
    """``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM[:SS]`` (JST unless an offset is given).

    A bare date as an end means the whole day (23:59:59 inclusive)."""
    text = text.strip()
    if len(text) == 10:
        day = dt.date.fromisoformat(text)
        moment = dt.datetime.combine(day, dt.time(23, 59, 59) if end else dt.time(0), tzinfo=JST)
        return moment
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=JST)
    return moment


def _parse_row(raw: dict[str, Any], where: str) -> tuple[CampaignRow | None, list[str]]:
    problems: list[str] = []
    values: dict[str, Any] = {}
    for field in CAMPAIGN_FIELDS:
        if field not in raw and field != "excluded_products":
            problems.append(f"{where}: column {field}: missing")
    if problems:
        return None, problems

    def text(field: str) -> str:
        value = raw.get(field)
        return "" if value is None else str(value).strip()

    for field in ("code", "name"):
        if not text(field):
            problems.append(f"{where}: column {field}: empty")
        values[field] = text(field)
    for field, is_end in (("window_start", False), ("window_end", True)):
        try:
            values[field] = _parse_moment(text(field), end=is_end)
        except ValueError:
            problems.append(f"{where}: column {field}: not a date-time: {text(field)!r}")
    try:
        values["points"] = int(text("points"))
        if values["points"] <= 0:
            problems.append(f"{where}: column points: must be positive: {text('points')!r}")
    except ValueError:
        problems.append(f"{where}: column points: not a whole number: {text('points')!r}")
    try:
        values["grant_month"] = BillingMonth.parse(text("grant_month"))
    except ValueError:
        problems.append(f"{where}: column grant_month: not YYYY-MM: {text('grant_month')!r}")
    excluded = raw.get("excluded_products") or []
    if isinstance(excluded, str):
        # CSV cells list product codes separated by spaces, commas or semicolons.
        excluded = excluded.replace(";", " ").replace(",", " ").split()
    values["excluded_product_codes"] = tuple(str(code).strip() for code in excluded)
    if (
        not problems and values["window_end"] < values["window_start"]  # both parsed
    ):
        problems.append(f"{where}: window_end is before window_start")
    if problems:
        return None, problems
    return CampaignRow(**values), []


def _read_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    data = path.read_bytes()
    if path.suffix.lower() == ".json":
        loaded = json.loads(data.decode("utf-8-sig"))
        if isinstance(loaded, dict):
            loaded = loaded.get("campaigns", [loaded])
        if not isinstance(loaded, list) or not all(isinstance(item, dict) for item in loaded):
            raise CampaignFileError(f"{path}: expected a list of campaign objects")
        return [(f"{path}: item {i}", item) for i, item in enumerate(loaded, start=1)]
    try:
        decoded = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        decoded = data.decode("cp932")
    reader = csv.DictReader(io.StringIO(decoded))
    return [(f"{path}: line {reader.line_num}", row) for row in reader]


def campaign_load_file(*, path: Path, actor: str) -> list[Campaign]:
    """Load campaigns from a CSV (header row) or JSON file, all or nothing.

    Columns: code, name, window_start, window_end, points, grant_month, excluded_products
    (product codes separated by spaces; a JSON list in JSON). Loading a campaign whose code
    exists updates it.
    """
    rows: list[CampaignRow] = []
    problems: list[str] = []
    for where, raw in _read_rows(path):
        row, row_problems = _parse_row(raw, where)
        problems.extend(row_problems)
        if row is not None:
            rows.append(row)
    if problems:
        raise CampaignFileError("\n".join(problems))
    campaigns: list[Campaign] = []
    try:
        with transaction.atomic():
            for row in rows:
                campaigns.append(
                    campaign_upsert(
                        code=row.code,
                        name=row.name,
                        window_start=row.window_start,
                        window_end=row.window_end,
                        points=row.points,
                        grant_month=row.grant_month,
                        excluded_product_codes=row.excluded_product_codes,
                        actor=actor,
                    )
                )
    except ValueError as error:
        raise CampaignFileError(f"{path}: {error}") from error
    return campaigns
