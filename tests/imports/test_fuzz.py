"""Every importer, fed arbitrary bytes and arbitrary rows of the right shape: it imports or it
reports, nothing else (SPEC 4.1, 4.3, 3.10).

Whatever the file, ``import_file`` returns an outcome or raises ``ImportRefused`` whose
problems are error lines (one line each, naming the file, no card number whole); a refused
file keeps nothing, and no batch is ever left running. Run on SQLite and, with
``DATABASE_URL`` set, on PostgreSQL, which refuses NUL characters, over-long text and
out-of-range integers by itself.
"""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meisai.accounts.models import Account, Enrollment
from meisai.card_numbers import mask_card_numbers
from meisai.imports.formats.members import REQUIRED as MEMBER_COLUMNS
from meisai.imports.models import ImportBatch
from meisai.imports.reading import ImportRefused
from meisai.imports.services import FORMATS, import_file
from meisai.members.models import Card, Member, Phone, Product
from meisai.points.models import PointBalance
from meisai.statements.models import UsageLine
from tests.imports.conftest import CARD_1, CARD_2, member_row, usage_row

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=50,
    deadline=None,
    # The stored products and members are set up once per test, not per example, on purpose:
    # every example runs against the same stored data.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HASH = PBKDF2PasswordHasher().encode("legacy-pass-2024", "fixedsalt123", iterations=1000)

#: Good values of each column, so that some generated rows are imported, not only refused.
GOOD: dict[str, dict[str, list[str]]] = {
    "products": {
        "product_code": ["STD", "GOLD", "NEW1"],
        "name": ["日専連カード", "ＩＲＩＳカード"],
        "program_excluded": ["0", "1"],
    },
    "members": {
        column: [value]
        for column, value in zip(MEMBER_COLUMNS, member_row().split(","), strict=True)
    }
    | {"member_no": ["M0000001", "M0000003"], "card_no": [CARD_1, "4980000012345670"]},
    "enrollments": {
        "member_no": ["M0000001", "M0000002"],
        "login_id": ["Taro.Morioka", "hanako_2"],
        "password_hash": [HASH],
        "personal_message": ["さくら"],
        "email": ["taro@example.jp", ""],
        "enrolled_at": ["2023-06-01 10:30:00", "2023-06-01T10:30:00+09:00"],
    },
    "usage": {
        column: [value]
        for column, value in zip(FORMATS["usage"].REQUIRED, usage_row().split(","), strict=True)
    }
    | {"member_no": ["M0000001", "M0000002"], "line_no": ["1", "2", "3"]},
    "points": {
        "member_no": ["M0000001", "M0000002"],
        "as_of": ["2025-03-31"],
        "balance": ["1200", "0"],
        "expiring_points": ["0", "100"],
        "expires_on": ["", "2025-06-30"],
    },
}

#: What a hostile file puts in any field.
HOSTILE = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from("\x00\r\n\"',\u2028\x85 ０１９-"), max_size=10),
    st.from_regex(r"-?[0-9]{1,30}", fullmatch=True),
    st.sampled_from(
        [
            "",
            "4980000012345670",
            "4980 0000 1234 5670",
            "9" * 20,
            "-" + "9" * 20,
            "9" * 5000,
            "あ" * 300,
            "x" * 200_000,
            "0001-01-01 00:00:00+09:00",
            "9999-12-31 23:59:59-09:00",
            "0000-01-01",
            "2025-00",
            "scrypt$" + "a" * 200,
            "a" * 250 + "@example.jp",
        ]
    ),
)

_numbers = itertools.count()


@pytest.fixture
def stored(importer):
    """The products and two members every kind's rows may name."""
    importer.products()
    importer.members(member_row("M0000001", CARD_1), member_row("M0000002", CARD_2))
    return importer.tmp_path


def counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (Product, Member, Card, Phone, Account, Enrollment, UsageLine, PointBalance)
    )


def imports_or_reports(kind: str, directory: Path, data: bytes) -> None:
    """Import ``data`` as a file of ``kind``: an outcome, or a refusal of one-line problems
    that kept nothing; never another exception, never a batch left running."""
    path = directory / f"{kind}-{next(_numbers)}.csv"
    path.write_bytes(data)
    before = counts()
    try:
        import_file(kind=kind, path=path, actor="fuzz", progress=False)
    except ImportRefused as refused:
        lines = refused.problems.lines
        assert lines
        for line in lines:
            assert line.splitlines() == [line]
            assert line.startswith(f"{path}: ") or line.startswith(f"{path}:")
            # No card number is left to mask: every one was masked already.
            assert mask_card_numbers(line) == line
        batch = ImportBatch.objects.get(file_name=str(path))
        assert batch.status == ImportBatch.Status.FAILED
        assert batch.errors == "\n".join(lines[:200])
        assert counts() == before
    assert not ImportBatch.objects.filter(status=ImportBatch.Status.RUNNING).exists()


def csv_bytes(header: list[str], rows: list[list[str]], encoding: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    # cp932 cannot write every character: a file written by such a system has '?' there.
    return out.getvalue().encode(encoding, errors="replace")


def rows_of(kind: str) -> st.SearchStrategy[list[list[str]]]:
    """Rows with exactly the columns of ``kind``, each field good or hostile."""
    columns = list(GOOD[kind])
    # Mostly good fields: a row with one hostile field among good ones reaches deeper checks
    # (and the database) than a row of noise, which the first check refuses.
    row = st.tuples(
        *(st.one_of(*[st.sampled_from(GOOD[kind][column])] * 8, HOSTILE) for column in columns)
    ).map(list)
    return st.lists(row, min_size=1, max_size=4)


KINDS = list(GOOD)


@pytest.mark.parametrize("kind", KINDS)
def test_arbitrary_bytes_are_imported_or_reported(stored, kind):
    header = ",".join(GOOD[kind]).encode()

    @FUZZ
    @given(
        data=st.one_of(
            st.binary(max_size=300),
            st.binary(max_size=300).map(lambda tail: header + b"\n" + tail),
        )
    )
    def run(data: bytes) -> None:
        imports_or_reports(kind, stored, data)

    run()


@pytest.mark.parametrize("kind", KINDS)
def test_arbitrary_rows_of_the_right_shape_are_imported_or_reported(stored, kind):
    @FUZZ
    @given(
        rows=rows_of(kind),
        encoding=st.sampled_from(["utf-8"] * 5 + ["utf-8-sig", "cp932", "utf-16", "utf-16-le"]),
        extra=st.one_of(st.none(), HOSTILE),
    )
    def run(rows: list[list[str]], encoding: str, extra: str | None) -> None:
        if extra is not None:
            rows = [*rows[:-1], [*rows[-1], extra]]
        imports_or_reports(kind, stored, csv_bytes(list(GOOD[kind]), rows, encoding))

    run()
