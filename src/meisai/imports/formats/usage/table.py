"""The usage table as the usage import writes it: which ``UsageLine`` fields a checked row
fills, in which order, and their columns.

Table and column names come from the model's metadata, never restated: a column added to the
model fails ``tests/imports`` until the importer fills it too (:data:`COLUMNS` must be every
concrete column but the id). Columns are found by name, not by field class, so a field may
change its Python type (``billing_month`` gives a ``BillingMonth``) while the importer keeps
writing the column's text.
"""

from __future__ import annotations

from django.db import models

from meisai.imports import columns
from meisai.imports.columns import model_field
from meisai.statements.models import UsageLine


def column(model: type[models.Model], name: str) -> str:
    """The database column of a model field (``member`` → ``member_id``)."""
    found = model_field(model, name).column
    assert found is not None, name
    return found


def max_length(name: str) -> int:
    """How many characters the usage table's text column ``name`` holds."""
    return columns.max_length(UsageLine, name)


def integer_range(name: str) -> tuple[int, int]:
    """The whole numbers the usage table's integer column ``name`` holds."""
    return columns.integer_range(UsageLine, name)


def listed(columns: tuple[str, ...], alias: str = "") -> str:
    """Column names for SQL, each qualified with ``alias`` when one is given."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + name for name in columns)


#: The fields of a line's key, in the order a checked row carries them after its file line.
KEY_FIELDS = ("member", "billing_month", "line_no")
#: The content of a line after its key: (the file's column, the model's field), in row order.
CONTENT_FIELDS = (
    ("card_no", "card"),
    ("use_date", "use_date"),
    ("merchant", "merchant"),
    ("user", "user_kind"),
    ("payment_type", "payment_type"),
    ("installment", "installment"),
    ("use_amount", "use_amount"),
    ("billed_amount", "billed_amount"),
    ("note", "note"),
)
ROW_FIELDS = KEY_FIELDS + tuple(name for _, name in CONTENT_FIELDS)

#: Table and column names in the importer's SQL come from here, never from the file.
TABLE = UsageLine._meta.db_table
KEY_COLUMNS = tuple(column(UsageLine, name) for name in KEY_FIELDS)
CONTENT_COLUMNS = tuple(column(UsageLine, name) for _, name in CONTENT_FIELDS)
ROW_COLUMNS = KEY_COLUMNS + CONTENT_COLUMNS
MONTH_COLUMN = column(UsageLine, "billing_month")
#: Every column the importer writes: each concrete column of the usage table but its id (the
#: batch is the importer's own, not the file's).
COLUMNS = (*ROW_COLUMNS, column(UsageLine, "batch"))

#: A row as checked: (file line, member id, month, line no, card id, use date, merchant, user,
#: payment type, installment, use amount, billed amount, note) — the file line, then the values
#: of :data:`ROW_COLUMNS` in that order.
Row = tuple[int, int, str, int, int | None, str, str, str, str, str, int, int, str]
