"""Horizontal bar charts as inline SVG (no script, no fonts to fetch): one line per
city with a label, an optional grey track and marker, the bar and a value label. Each
bar carries ``data-city``, ``data-key`` and ``data-value`` (the JSON number it shows).

The chart is returned as :class:`markupsafe.Markup`: every piece of text in it (city
names, labels, the title) is escaped here, so the HTML template may insert it as is."""

from __future__ import annotations

import math
from html import escape
from typing import NamedTuple

from markupsafe import Markup


class Bar(NamedTuple):
    """One city's line in a bar chart."""

    city: str
    key: str  # the JSON field the bar shows, e.g. "completion.actual"
    value: float | None  # that JSON value (data-value)
    length: float  # bar length in chart units
    colour: str
    label: str  # text right of the bar
    track: float | None = None  # grey background bar (allocation, 100 %)
    marker: float | None = None  # a dark tick (the allocation)


def nice_ceiling(x: float) -> float:
    """The smallest of 1, 2, 2.5, 4, 5, 8 × 10^k not below ``x`` (axis end, 4 ticks)."""
    if x <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(x))
    return next(m * power for m in (1, 2, 2.5, 4, 5, 8, 10) if m * power >= x)


def bar_chart(title: str, bars: list[Bar], scale: float, percent: bool) -> Markup:
    """The ``<svg>`` element; ``title`` is its accessible name."""
    label_w, bar_w, value_w, row_h, top = 74, 330, 190, 26, 8
    width, height = label_w + bar_w + value_w, top + row_h * len(bars) + 24

    def x_of(v: float | None) -> float:
        return label_w + bar_w * max(0.0, min((v or 0) / scale, 1.0))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}">'
    ]
    for i, b in enumerate(bars):
        y = top + i * row_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 17}" text-anchor="end" font-size="13">'
            f"{escape(b.city)}</text>"
        )
        if b.track is not None:
            parts.append(
                f'<rect x="{label_w}" y="{y + 4}" width="{x_of(b.track) - label_w:.1f}" '
                'height="18" fill="#dde3ea"/>'
            )
        data = "" if b.value is None else f' data-value="{b.value}"'
        parts.append(
            f'<rect class="bar" data-city="{escape(b.city)}" data-key="{b.key}"{data} '
            f'x="{label_w}" y="{y + 7}" width="{x_of(b.length) - label_w:.1f}" height="12" '
            f'fill="{b.colour}"/>'
        )
        if b.marker is not None:
            mx = x_of(b.marker)
            parts.append(
                f'<line x1="{mx:.1f}" y1="{y + 2}" x2="{mx:.1f}" y2="{y + 24}" '
                'stroke="#1f2933" stroke-width="2"/>'
            )
        parts.append(
            f'<text x="{label_w + bar_w + 8}" y="{y + 17}" font-size="12">{escape(b.label)}</text>'
        )
    axis_y = top + row_h * len(bars) + 2
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + bar_w * tick
        edge = tick in (0, 1.0)
        dash = "" if edge else ' stroke-dasharray="3,3"'
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{axis_y}" stroke="#9aa5b1" '
            f'stroke-width="{1.2 if edge else 0.5}"{dash}/>'
        )
        text = f"{tick:.0%}" if percent else f"{tick * scale:g}"
        parts.append(
            f'<text x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle" font-size="11" '
            f'fill="#52606d">{text}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # safe: every text above went through escape()
