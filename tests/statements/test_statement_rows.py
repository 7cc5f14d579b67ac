"""The line table's rows, written in Python by ``{% line_rows %}``, are byte for byte what the
template loop they replace wrote: the browser, accessibility and English tests were written
against that markup, and a cached body must not change with the code that renders it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.template import engines
from django.utils import translation

from meisai.members.models import Card
from meisai.statements.models import UsageLine

#: The loop of statements/_statement_body.html before the rows moved to Python, verbatim.
THE_TEMPLATE_LOOP = (
    "{% load i18n meisai_format %}"
    "  {% for line in lines %}\n"
    '  <tr><td class="use-date">{{ line.use_date|short_date }}</td><td class="merchant">'
    '{{ line.merchant }}{% if line.note %}<br><span class="help">{{ line.note }}</span>'
    '{% endif %}</td><td class="payment{% if line.payment_type|is_single_payment %} once'
    '{% endif %}" data-label="{% translate \'支払区分\' %}">{{ line.payment_type|payment_label }}'
    '</td><td class="installment" data-label="{% translate \'回数\' %}">{{ line.installment }}'
    '</td><td class="amount use-amount{% if line.use_amount == line.billed_amount %} same'
    '{% endif %}" data-label="{% translate \'ご利用金額\' %}">{{ line.use_amount|yen }}</td>'
    '<td class="amount billed">{{ line.billed_amount|yen }}</td></tr>\n'
    "  {% endfor %}\n"
)
THE_TAG = "{% load statement_rows %}  {% line_rows lines %}\n"

MERCHANTS = ["盛岡<百貨店>", "A&B 'x' \"y\"", "髙橋商店㈱", "x" * 120, "<script>alert(1)</script>"]
NOTES = ["", "返品", "<b>&\"'取消", ""]
PAYMENTS = ["1回", "2回", "ボーナス", "分割", "リボ", "未知の区分"]


def _lines(count: int) -> list[UsageLine]:
    card = Card(pk=7, last4="1234")
    return [
        UsageLine(
            pk=n + 1,
            member_id=1,
            card=card,
            line_no=n + 1,
            use_date=dt.date(2025, 3, 1 + n % 28),
            merchant=MERCHANTS[n % len(MERCHANTS)],
            user_kind="本人" if n % 3 else "家族",
            payment_type=PAYMENTS[n % len(PAYMENTS)],
            installment="2/10" if n % 7 == 0 else "",
            # Refunds, and lines whose billed amount differs from the amount used.
            use_amount=(n * 1371) % 20000 - 3000,
            billed_amount=(n * 1371) % 20000 - 3000 if n % 5 else 1000,
            note=NOTES[n % len(NOTES)],
        )
        for n in range(count)
    ]


@pytest.mark.parametrize("language", ["ja", "en"])
@pytest.mark.parametrize("count", [0, 1, 31])
def test_the_rows_are_the_markup_the_template_loop_wrote(language, count):
    engine = engines["django"]
    lines = _lines(count)
    with translation.override(language):
        expected = engine.from_string(THE_TEMPLATE_LOOP).render({"lines": lines})
        rows = engine.from_string(THE_TAG).render({"lines": lines})

    assert rows == expected
    assert rows.count("<tr>") == count


def test_a_merchant_or_note_is_escaped_never_markup():
    with translation.override("ja"):
        rows = engines["django"].from_string(THE_TAG).render({"lines": _lines(5)})

    assert "<script>" not in rows and "&lt;script&gt;alert(1)&lt;/script&gt;" in rows
    assert "&lt;b&gt;&amp;&quot;&#x27;取消" in rows
