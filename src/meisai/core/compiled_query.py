"""A queryset compiled to SQL once per database connection, then run with other values.

Django compiles a queryset to SQL on every evaluation. For the statement's own read (the
statement with its member, balances and points: eight subqueries) that compilation cost about
8 ms of CPU on the 2-core machine, against 0.35 ms to send the same SQL and turn its row into
the same objects; a member's first view of a statement pays it on every request of the 13th.

``CompiledQuery`` keeps the queryset as the one definition of the read. It builds it once with
*placeholder* values, compiles it for the connection in use and finds the positions of those
values among the SQL's parameters; every later call sends the same SQL with the caller's values
in those positions and builds the rows as ``QuerySet`` would (the backend's converters, the
``select_related`` objects, the annotations as attributes). A placeholder must be a value that
cannot occur elsewhere among the parameters (a negative id, a month no statement has), and a
call's values are given as the database takes them (a ``BillingMonth`` as its text); a
datetime is given as it is, and adapted here as the backend adapts it (text on SQLite).

``CompiledValues`` is the same for a ``values()`` queryset, whose rows are dicts: an aggregate
over filtered rows, for instance, with a constant in ``values()`` so that there is no GROUP BY
and exactly one row.

The compiled form is kept per connection object (one per thread in Django), since the backend's
converters and SQL belong to it.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators

M = TypeVar("M", bound=Model)


class _Compiled:
    """The SQL of one queryset for one connection, and how its rows become objects (or, for a
    ``values()`` queryset, dicts)."""

    def __init__(
        self, queryset: QuerySet[Any], placeholders: dict[str, object], db: BaseDatabaseWrapper
    ) -> None:
        compiler = queryset.query.get_compiler(connection=db)
        self.sql, params = compiler.as_sql()
        self.params = list(params)
        self.slots: dict[str, list[int]] = {}
        for name, placeholder in placeholders.items():
            as_sent = _as_parameter(db, placeholder)
            positions = [i for i, value in enumerate(self.params) if value == as_sent]
            if not positions:
                raise ValueError(f"the placeholder of {name!r} is not a parameter of the query")
            self.slots[name] = positions
        # What ModelIterable reads from the compiler after as_sql(), kept for every later call.
        select, klass_info = compiler.select, compiler.klass_info
        self.compiler = compiler
        self.converters = compiler.get_converters([column[0] for column in select])
        query = compiler.query
        # A values() query's rows are named as ValuesIterable names them, and make no objects.
        self.names = [*query.extra_select, *query.values_select, *query.annotation_select]
        if klass_info is None:
            return
        self.model: type[Model] = klass_info["model"]
        fields = klass_info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.attnames = [column[0].target.attname for column in select[self.start : self.end]]
        # Django 5.2's signature; the stubs already know a later one's (fetch_mode).
        self.related = get_related_populators(klass_info, select, db.alias)  # type: ignore[call-arg]
        self.annotations = list(compiler.annotation_col_map.items())

    def rows(self, db: BaseDatabaseWrapper, values: dict[str, object]) -> Iterable[Any]:
        params = list(self.params)
        for name, positions in self.slots.items():
            value = _as_parameter(db, values[name])
            for position in positions:
                params[position] = value
        with db.cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        if self.converters:
            return self.compiler.apply_converters(rows, self.converters)
        return rows


def _as_parameter(db: BaseDatabaseWrapper, value: object) -> object:
    """A value as the compiled SQL's parameters hold it: a datetime as the backend adapts a
    ``DateTimeField``'s (SQLite: text in UTC), anything else as given."""
    if isinstance(value, dt.datetime):
        return db.ops.adapt_datetimefield_value(value)
    return value


class _PerConnection:
    """The compiled form of ``build(**placeholders)`` for the connection in use."""

    def __init__(self, build: Callable[..., QuerySet[Any]], **placeholders: object) -> None:
        self._build = build
        self._placeholders = placeholders
        self._compiled: weakref.WeakKeyDictionary[BaseDatabaseWrapper, _Compiled] = (
            weakref.WeakKeyDictionary()
        )

    def _for(self, values: dict[str, object]) -> tuple[BaseDatabaseWrapper, _Compiled]:
        if values.keys() != self._placeholders.keys():
            raise TypeError(f"expected the values of {sorted(self._placeholders)}")
        db = connections[DEFAULT_DB_ALIAS]
        compiled = self._compiled.get(db)
        if compiled is None:
            compiled = _Compiled(self._build(**self._placeholders), self._placeholders, db)
            self._compiled[db] = compiled
        return db, compiled


class CompiledQuery(_PerConnection, Generic[M]):
    """``build(**placeholders)`` compiled once per connection; ``query(**values)`` runs it."""

    def __init__(self, build: Callable[..., QuerySet[M]], **placeholders: object) -> None:
        super().__init__(build, **placeholders)

    def __call__(self, **values: object) -> list[M]:
        db, compiled = self._for(values)
        model, start, end, attnames = (
            compiled.model,
            compiled.start,
            compiled.end,
            compiled.attnames,
        )
        found: list[M] = []
        for row in compiled.rows(db, values):
            item = model.from_db(db.alias, attnames, row[start:end])
            for related in compiled.related:
                related.populate(row, item)
            for name, position in compiled.annotations:
                setattr(item, name, row[position])
            found.append(item)  # type: ignore[arg-type]
        return found


class CompiledValues(_PerConnection):
    """``build(**placeholders)``, a ``values()`` queryset, compiled once per connection;
    ``query(**values)`` runs it and returns its rows as the queryset would, as dicts."""

    def __call__(self, **values: object) -> list[dict[str, Any]]:
        db, compiled = self._for(values)
        return [dict(zip(compiled.names, row, strict=True)) for row in compiled.rows(db, values)]
