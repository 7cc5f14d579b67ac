"""The billing month as a value end to end: in the database, in URLs and in code.

* :class:`BillingMonthField` stores a ``BillingMonth`` as its ``YYYY-MM`` text (a 7-character
  column, so the close's SQL and the imports' COPY read and write it as text) and gives back a
  ``BillingMonth`` on every read; lookups take a ``BillingMonth`` (or its text);
* :class:`BillingMonthConverter` makes ``<month:month>`` in a URL pattern hand the view a
  ``BillingMonth``; anything that is not a real month (``2025-13``) is simply no match, a 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import models

from meisai.billing_calendar import BillingMonth

if TYPE_CHECKING:
    _CharField = models.CharField[BillingMonth | str, BillingMonth]
else:
    _CharField = models.CharField


class BillingMonthField(_CharField):
    description = "A billing month (YYYY-MM)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 7)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("max_length") == 7:
            del kwargs["max_length"]
        return name, path, args, kwargs

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        return None if value is None else BillingMonth.parse(value)

    def to_python(self, value: Any) -> BillingMonth | None:
        if value is None or isinstance(value, BillingMonth):
            return value
        try:
            return BillingMonth.parse(str(value))
        except ValueError as error:
            raise ValidationError(
                "請求月はYYYY-MMの形で入力してください。", code="invalid", params={"value": value}
            ) from error

    def get_prep_value(self, value: Any) -> str | None:
        month = self.to_python(value)
        return None if month is None else str(month)

    def value_to_string(self, obj: Any) -> str:
        value = self.value_from_object(obj)
        return "" if value is None else str(value)


class BillingMonthConverter:
    regex = r"[0-9]{4}-[0-9]{2}"

    def to_python(self, value: str) -> BillingMonth:
        return BillingMonth.parse(value)  # ValueError: no match

    def to_url(self, value: BillingMonth | str) -> str:
        return str(value)
