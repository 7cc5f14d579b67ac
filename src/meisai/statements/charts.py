"""The bar chart of monthly totals on the statements page: inline SVG drawn on the server.

No script, no external file: the chart is part of the HTML, readable by a screen reader through
its ``<title>`` and ``<desc>`` (which lists every month and amount).

The ``viewBox`` is drawn for a phone: at 390 px the chart is about 330 px wide (0.7 of its user
units), so the labels of months and years (16 units) read at 11 px, and 13 months fit side by
side. The amounts over the bars (class ``bar-label``) are too long for a phone's slots: site.css
hides them below 600 px, where the table under the chart gives every amount. On a PC the chart
grows to 640 px (1.33), where the amounts read at 15 px.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from meisai.statements.formatting import (
    calendar_month,
    chart_month,
    chart_year,
    compact_amount,
    money,
)
from meisai.statements.selectors import MonthTotal

_WIDTH = 480
_HEIGHT = 270
_TOP = 24
_BOTTOM = 56
_LEFT = 6
_RIGHT = 6
_MONTH_FONT = 16
_YEAR_FONT = 16
_AMOUNT_FONT = 11


def monthly_totals_svg(totals: list[MonthTotal], *, chart_id: str = "totals-chart") -> SafeString:
    """An SVG bar chart, oldest month on the left. Months without a statement get no bar."""
    plot_height = _HEIGHT - _TOP - _BOTTOM
    highest = max((t.total for t in totals if t.total and t.total > 0), default=0)
    slot = (_WIDTH - _LEFT - _RIGHT) / max(len(totals), 1)
    bar = slot * 0.6
    no_statement = gettext("ご請求なし")
    described = gettext("、").join(
        f"{calendar_month(t.month)} {money(t.total) if t.total is not None else no_statement}"
        for t in totals
    )
    title = gettext("月別ご請求金額のグラフ")
    parts = [
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(described)}</desc>',
        f'<line x1="{_LEFT}" y1="{_HEIGHT - _BOTTOM}" x2="{_WIDTH - _RIGHT}" '
        f'y2="{_HEIGHT - _BOTTOM}" stroke="#555" stroke-width="1"/>',
    ]
    for index, item in enumerate(totals):
        x = _LEFT + slot * index + (slot - bar) / 2
        centre = x + bar / 2
        amount = item.total if item.total is not None else 0
        height = plot_height * amount / highest if highest and amount > 0 else 0
        y = _HEIGHT - _BOTTOM - height
        if item.total is not None:
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="#0b4f8a"/>'
            )
            parts.append(
                f'<text class="bar-label" x="{centre:.1f}" y="{y - 5:.1f}" text-anchor="middle" '
                f'font-size="{_AMOUNT_FONT}" fill="#1a1a1a">{escape(compact_amount(item.total))}</text>'
            )
        parts.append(
            f'<text x="{centre:.1f}" y="{_HEIGHT - _BOTTOM + 20}" text-anchor="middle" '
            f'font-size="{_MONTH_FONT}" fill="#1a1a1a">{escape(chart_month(item.month))}</text>'
        )
        if _shows_year(totals, index):
            parts.append(
                f'<text x="{centre:.1f}" y="{_HEIGHT - _BOTTOM + 42}" text-anchor="middle" '
                f'font-size="{_YEAR_FONT}" fill="#555">{escape(chart_year(item.month))}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every value above is a number or escaped


def _shows_year(totals: list[MonthTotal], index: int) -> bool:
    """The year goes under January and under the first month, unless the second is January
    (two year labels side by side would overlap at the phone's size)."""
    if totals[index].month.month == 1:
        return True
    return index == 0 and (len(totals) < 2 or totals[1].month.month != 1)
