"""One module per file kind of SPEC 4.3. Each validates every row, then writes set-wise.

A format module exposes ``REQUIRED`` and ``OPTIONAL`` column names and
``load(*, file: ParsedFile, batch: ImportBatch) -> Counts``, which reports problems into
``file.problems`` and raises :class:`~meisai.imports.reading.ImportRefused` before writing
anything when there are any.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from meisai.imports.reading import Header, Problems


@dataclass
class Counts:
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    #: What ``inserted``/``updated`` count when it is not rows (the member file: members).
    unit: str = "rows"
    #: How many of ``unit`` the file holds, when not ``rows``.
    items: int | None = None

    @property
    def unchanged(self) -> int:
        total = self.rows if self.items is None else self.items
        return total - self.inserted - self.updated


@dataclass
class ParsedFile:
    """A decoded file whose header has been checked; ``rows`` yields (line, fields) once."""

    name: str
    header: Header
    rows: Iterator[tuple[int, list[str]]]
    problems: Problems
    size_hint: int
    #: ``advance(n)`` of the progress report.
    advance: Callable[[int], None]
    #: The decoded text, for a cheap first look (the usage import's months).
    text: str = ""
    #: The operator said so (``--append``): a usage file may add lines to a month that an
    #: earlier file already filled (SPEC 4.3).
    append: bool = False


def chunked(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
