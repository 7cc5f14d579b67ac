"""products: ``product_code, name, program_excluded`` — card products, upserted by code."""

from __future__ import annotations

import re

from meisai.imports.columns import max_length
from meisai.imports.formats import Counts, ParsedFile
from meisai.imports.models import ImportBatch
from meisai.imports.reading import FieldError, ImportRefused, half, parse_flag, text_field
from meisai.members.models import Product

REQUIRED = ("product_code", "name", "program_excluded")
OPTIONAL: tuple[str, ...] = ()

_CODE_RE = re.compile(r"[0-9A-Za-z_-]{1,20}", re.ASCII)
_NAME_MAX = max_length(Product, "name")


def parse_code(text: str) -> str:
    value = half(text)
    if not _CODE_RE.fullmatch(value):
        raise FieldError("not a product code (1–20 letters, digits, - or _)")
    return value


def load(*, file: ParsedFile, batch: ImportBatch) -> Counts:
    from meisai.imports.formats.members import program_excluded_refresh

    header, problems = file.header, file.problems
    i_code, i_name, i_excluded = (header[c] for c in REQUIRED)
    seen: dict[str, int] = {}
    wanted: dict[str, tuple[str, bool]] = {}
    counts = Counts()
    for line, row in file.rows:
        counts.rows += 1
        code: str | None = None
        try:
            code = parse_code(row[i_code])
        except FieldError as error:
            problems.add(line, "product_code", row[i_code], str(error))
        if code is not None and code in seen:
            problems.add(line, "product_code", code, f"duplicate: already on line {seen[code]}")
            continue
        if code is not None:
            seen[code] = line
        values: list[object] = []
        for column, index, parse in (
            ("name", i_name, lambda t: text_field(t, max_length=_NAME_MAX, required=True)),
            ("program_excluded", i_excluded, parse_flag),
        ):
            try:
                values.append(parse(row[index]))
            except FieldError as error:
                problems.add(line, column, row[index], str(error))
        if code is not None and len(values) == 2:
            wanted[code] = (str(values[0]), bool(values[1]))
    file.advance(counts.rows)
    if problems:
        raise ImportRefused(problems)

    existing = {p.code: p for p in Product.objects.filter(code__in=list(wanted))}
    changed_exclusion: list[int] = []
    for code, (name, excluded) in wanted.items():
        product = existing.get(code)
        if product is None:
            Product.objects.create(code=code, name=name, program_excluded=excluded)
            counts.inserted += 1
        elif (product.name, product.program_excluded) != (name, excluded):
            if product.program_excluded != excluded:
                changed_exclusion.append(product.pk)
            product.name, product.program_excluded = name, excluded
            product.save(update_fields=["name", "program_excluded"])
            counts.updated += 1
    if changed_exclusion:
        from meisai.members.models import Card

        program_excluded_refresh(
            member_ids=set(
                Card.objects.filter(product_id__in=changed_exclusion).values_list(
                    "member_id", flat=True
                )
            )
        )
    return counts
