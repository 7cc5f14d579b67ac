"""The rows of a statement's line table, written in Python instead of a template loop.

A first view renders the statement's body (it is cached afterwards), and the loop over its lines
was most of that: about 15 template lookups, filters and translate tags per line, 30 lines and
more. ``{% line_rows group.lines %}`` writes the same markup byte for byte (the text around each
row included, as the loop wrote it), escaping every value as Django's autoescape does, with the
labels translated once per table instead of once per row.
"""

from __future__ import annotations

from collections.abc import Iterable

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, gettext

from meisai.statements import formatting
from meisai.statements.models import PaymentType
from meisai.statements.selectors import Line

register = template.Library()


@register.simple_tag
def line_rows(lines: Iterable[Line]) -> SafeString:
    """One ``<tr>`` per line: date, merchant (and its 備考), payment type, 回数, amount used and
    amount billed; the phone layout's labels in ``data-label``."""
    language = get_language() or "ja"
    payment = escape(gettext("支払区分"))
    count = escape(gettext("回数"))
    used = escape(gettext("ご利用金額"))
    rows = []
    for line in lines:
        note = f'<br><span class="help">{escape(line.note)}</span>' if line.note else ""
        once = " once" if line.payment_type == PaymentType.ONCE else ""
        same = " same" if line.use_amount == line.billed_amount else ""
        rows.append(
            f'\n  <tr><td class="use-date">{escape(formatting.short_date(line.use_date))}</td>'
            f'<td class="merchant">{escape(line.merchant)}{note}</td>'
            f'<td class="payment{once}" data-label="{payment}">'
            f"{escape(formatting.payment_name(line.payment_type, language=language))}</td>"
            f'<td class="installment" data-label="{count}">{escape(line.installment)}</td>'
            f'<td class="amount use-amount{same}" data-label="{used}">'
            f"{escape(formatting.money(line.use_amount, language=language))}</td>"
            f'<td class="amount billed">'
            f"{escape(formatting.money(line.billed_amount, language=language))}</td></tr>\n  "
        )
    return mark_safe("".join(rows))  # noqa: S308 - every value above is escaped
