"""The dashboard's charts: inline SVG drawn on the server, as ``statements/charts.py`` draws the
member's chart. No script and no external file; colours come from classes in ``console.css``
(the Content-Security-Policy forbids ``style`` attributes). Each chart names itself in
``<title>`` and lists every value in ``<desc>`` for a screen reader, and the page prints the
same numbers in a table beside it, so the chart is never the only place a figure lives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from meisai.backoffice.dashboard import Dashboard

#: What a bar measures: a count, yen, or a percent with one decimal.
Number = int | float | Decimal

_WIDTH = 720
_HEIGHT = 260
_TOP = 34
_BOTTOM = 46
_LEFT = 8
_RIGHT = 8


@dataclass(frozen=True)
class Series:
    """One set of bars: its name (legend, description) and a CSS class for its colour."""

    name: str
    values: Sequence[Number | None]
    css_class: str


def _plain(value: Number) -> str:
    return f"{value:,}"


def bar_chart_svg(
    *,
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[Number], str] = _plain,
    highest: float | None = None,
) -> SafeString:
    """Grouped vertical bars, one group per label (a month), oldest on the left.

    ``highest`` fixes the top of the scale (100 for a percent); otherwise the largest value.
    A ``None`` value (no data that month) draws no bar and reads 「なし」.
    """
    plot_height = _HEIGHT - _TOP - _BOTTOM
    top = highest or max(
        (float(v) for s in series for v in s.values if v is not None and v > 0), default=0
    )
    slot = (_WIDTH - _LEFT - _RIGHT) / max(len(labels), 1)
    bar = slot * 0.8 / max(len(series), 1)
    described = "。".join(
        f"{s.name}: "
        + "、".join(
            f"{label} {fmt(v) if v is not None else 'なし'}"
            for label, v in zip(labels, s.values, strict=True)
        )
        for s in series
    )
    parts = [
        f'<svg class="chart dashboard-chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(described)}</desc>',
    ]
    for index, item in enumerate(series):
        legend_x = _LEFT + index * 150
        parts.append(
            f'<rect class="{escape(item.css_class)}" x="{legend_x}" y="6" width="12" height="12"/>'
            f'<text class="chart-legend" x="{legend_x + 16}" y="16">{escape(item.name)}</text>'
        )
    parts.append(
        f'<line class="chart-axis" x1="{_LEFT}" y1="{_HEIGHT - _BOTTOM}" '
        f'x2="{_WIDTH - _RIGHT}" y2="{_HEIGHT - _BOTTOM}"/>'
    )
    for index, label in enumerate(labels):
        group = _LEFT + slot * index + slot * 0.1
        for number, item in enumerate(series):
            value = item.values[index]
            if value is None:
                continue
            height = plot_height * float(value) / top if top and value > 0 else 0.0
            x = group + bar * number
            y = _HEIGHT - _BOTTOM - height
            parts.append(
                f'<rect class="{escape(item.css_class)}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{bar:.1f}" height="{height:.1f}">'
                f"<title>{escape(label)} {escape(item.name)} {escape(fmt(value))}</title></rect>"
            )
        centre = _LEFT + slot * index + slot / 2
        month = label[5:] if len(label) == 7 else label
        parts.append(
            f'<text class="chart-label" x="{centre:.1f}" y="{_HEIGHT - _BOTTOM + 16}" '
            f'text-anchor="middle">{escape(month.lstrip("0"))}月</text>'
        )
        if index == 0 or month == "01":
            parts.append(
                f'<text class="chart-year" x="{centre:.1f}" y="{_HEIGHT - _BOTTOM + 32}" '
                f'text-anchor="middle">{escape(label[:4])}年</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every value above is a number or escaped


def horizontal_bars_svg(
    *, chart_id: str, title: str, rows: Sequence[tuple[str, int]], css_class: str
) -> SafeString:
    """One bar per row (a funnel step, a failure reason), longest first as given."""
    row_height, label_width = 30, 230
    height = row_height * max(len(rows), 1) + 10
    widest = max((count for _, count in rows), default=0)
    plot = _WIDTH - label_width - 80
    described = "、".join(f"{label} {count:,}件" for label, count in rows)
    parts = [
        f'<svg class="chart dashboard-chart" viewBox="0 0 {_WIDTH} {height}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(described)}</desc>',
    ]
    for index, (label, count) in enumerate(rows):
        y = 5 + row_height * index
        width = plot * count / widest if widest else 0
        parts.append(
            f'<text class="chart-label" x="{label_width - 8}" y="{y + 18}" '
            f'text-anchor="end">{escape(label)}</text>'
            f'<rect class="{escape(css_class)}" x="{label_width}" y="{y + 4}" '
            f'width="{width:.1f}" height="{row_height - 10}"/>'
            f'<text class="chart-value" x="{label_width + width + 6:.1f}" y="{y + 18}">'
            f"{count:,}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every value above is a number or escaped


def _yen(value: Number) -> str:
    return f"{value:,}円"


def _percent(value: Number) -> str:
    return f"{value}%"


def dashboard_charts(figures: Dashboard) -> dict[str, SafeString]:
    """Every chart of the dashboard page, by the name the template uses."""
    months = figures.months
    labels = [str(m.month) for m in months]
    return {
        "registrations": bar_chart_svg(
            chart_id="chart-registrations",
            title="月別WEBサービス登録数",
            labels=labels,
            series=[Series("WEB登録", [m.registrations for m in months], "bar-web")],
        ),
        "web_share": bar_chart_svg(
            chart_id="chart-web-share",
            title="請求月別 WEB明細の割合(%)",
            labels=labels,
            series=[Series("WEB明細の割合", [m.web_share for m in months], "bar-web")],
            fmt=_percent,
            highest=100,
        ),
        "paper": bar_chart_svg(
            chart_id="chart-paper",
            title="請求月別 紙明細の通数",
            labels=labels,
            series=[Series("紙明細", [m.paper_statements for m in months], "bar-paper")],
        ),
        "fees": bar_chart_svg(
            chart_id="chart-fees",
            title="請求月別 紙明細発行手数料の収入(税込)",
            labels=labels,
            series=[Series("手数料収入", [m.fee_revenue for m in months], "bar-fee")],
            fmt=_yen,
        ),
        "emails": bar_chart_svg(
            chart_id="chart-emails",
            title="月別メール送信(送信済・送信失敗)",
            labels=labels,
            series=[
                Series("送信済", [m.emails_sent for m in months], "bar-sent"),
                Series("送信失敗", [m.emails_failed for m in months], "bar-failed"),
            ],
        ),
        "funnel": horizontal_bars_svg(
            chart_id="chart-funnel",
            title="登録の進み具合",
            rows=[(label, count) for _, label, count in figures.funnel.steps()],
            css_class="bar-web",
        ),
        "failures": horizontal_bars_svg(
            chart_id="chart-failures",
            title="本人確認の失敗理由",
            rows=[(f.label, f.count) for f in figures.failures],
            css_class="bar-failed",
        ),
    }
