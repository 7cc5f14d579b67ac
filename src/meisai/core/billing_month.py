"""The billing month as a value end to end: in the database, in URLs and in code.

* :class:`BillingMonthField` stores a ``BillingMonth`` as its ``YYYY-MM`` text (a 7-character
  column, so the close's SQL and the imports' COPY read and write it as text) and gives back a
  ``BillingMonth`` on every read; lookups take a ``BillingMonth`` (or its text);
* :class:`BillingMonthConverter` makes ``<month:month>`` in a URL pattern hand the view a
  ``BillingMonth``; anything that is not a real month (``2025-13``) is simply no match, a 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models
from django.utils.translation import gettext

from meisai.billing_calendar import BillingMonth

if TYPE_CHECKING:
    _CharField = models.CharField[BillingMonth | str, BillingMonth]
else:
    _CharField = models.CharField


class BillingMonthFormField(forms.CharField):
    """A form's billing month: ``YYYY-MM`` typed, a ``BillingMonth`` cleaned."""

    def to_python(self, value: Any) -> BillingMonth | None:  # type: ignore[override]
        text = super().to_python(value)
        if not text:
            return None
        try:
            return BillingMonth.parse(text)
        except ValueError as error:
            raise ValidationError(
                gettext("請求月は2025-04のようにYYYY-MMで入力してください。"), code="invalid"
            ) from error


class BillingMonthField(_CharField):
    description = "A billing month (YYYY-MM)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 7)
        super().__init__(*args, **kwargs)
        # The column is 7 characters; a BillingMonth always fits and has no len() to check.
        self.validators[:] = [v for v in self.validators if not isinstance(v, MaxLengthValidator)]

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
                gettext("請求月はYYYY-MMの形で入力してください。"),
                code="invalid",
                params={"value": value},
            ) from error

    def get_prep_value(self, value: Any) -> str | None:
        month = self.to_python(value)
        return None if month is None else str(month)

    def formfield(self, **kwargs: Any) -> Any:
        return super().formfield(
            **{"form_class": BillingMonthFormField, "max_length": None, **kwargs}
        )

    def value_to_string(self, obj: Any) -> str:
        value = self.value_from_object(obj)
        return "" if value is None else str(value)


class BillingMonthConverter:
    regex = r"[0-9]{4}-[0-9]{2}"

    def to_python(self, value: str) -> BillingMonth:
        return BillingMonth.parse(value)  # ValueError: no match

    def to_url(self, value: BillingMonth | str) -> str:
        return str(value)
