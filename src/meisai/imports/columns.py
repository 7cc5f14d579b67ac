"""What an imported value may be, read from the column it is stored in: the one place bounds
come from.

A value the column cannot hold must be an error line of the file, not a database error halfway
through the import, and the same file must get the same answer on every database: SQLite
enforces no text length and takes any 64-bit integer, PostgreSQL refuses a 255-character
``varchar(254)`` or a ``PositiveIntegerField`` past 2³¹−1. So the bounds are the model field's
own: its ``max_length``, and for an integer the range Django gives its field type on every
database (``BaseDatabaseOperations.integer_field_ranges``, the portable one, not the running
backend's). A column made wider or narrower moves the importer's bound with it.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations


def model_field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    """The model's field ``name``, which must be a column of its table."""
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field) and field.concrete, name
    return field


def max_length(model: type[models.Model], name: str) -> int:
    """How many characters the text column ``name`` of ``model`` holds."""
    length = model_field(model, name).max_length
    assert length is not None, name
    return length


def integer_range(model: type[models.Model], name: str) -> tuple[int, int]:
    """The lowest and highest whole number the integer column ``name`` of ``model`` holds, on
    every database Django supports."""
    internal_type = model_field(model, name).get_internal_type()
    low, high = BaseDatabaseOperations.integer_field_ranges[internal_type]
    return low, high
