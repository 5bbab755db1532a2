"""Chart geometry for server-rendered SVG (``templates/ucmail/_charts.html``).

No JavaScript library and no build step: the figures are laid out here, in plain
numbers, and a Jinja macro draws them. Colour is never the only cue: each series
has its own marker and dash pattern and is named at the end of its line, bars
carry their value as text, and every chart comes with its numbers as a table.
The palette is Okabe-Ito's, chosen to stay distinct with colour-blindness.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from ucmail_ext.i18n import gettext as _

WIDTH = 640
HEIGHT = 240
# Plot area inside the SVG: room for the y labels on the left, end labels on the right.
LEFT, RIGHT, TOP, BOTTOM = 48, 96, 14, 30

# (colour, marker, dash pattern) per series, in order.
STYLES = (
    ("#0072B2", "circle", ""),
    ("#E69F00", "square", "7 4"),
    ("#009E73", "triangle", "2 3"),
    ("#D55E00", "diamond", "10 3 2 3"),
    ("#CC79A7", "circle", "4 2"),
)


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Mark:
    x: float
    y: float
    value: float | None
    label: str


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    colour: str
    marker: str
    dash: str
    marks: list[Mark]
    last: float | None
    # Where the name is written at the line's end, moved apart from the others'.
    label_y: float = 0.0

    @property
    def points(self) -> str:
        return " ".join(f"{m.x:.1f},{m.y:.1f}" for m in self.marks if m.value is not None)

    @property
    def end(self) -> Mark | None:
        drawn = [m for m in self.marks if m.value is not None]
        return drawn[-1] if drawn else None


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class LineChart:
    title: str
    summary: str
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    series: list[Series]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    table: Table
    empty: bool


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value_text: str
    # Where the value is written (after the bar, or above it).
    text_x: float
    text_y: float


@dataclass(frozen=True)
class BarChart:
    title: str
    summary: str
    width: int
    height: int
    horizontal: bool
    bars: list[Bar]
    label_width: float
    baseline: float
    table: Table
    empty: bool
    colour: str = STYLES[0][0]
    ticks: list[Tick] = field(default_factory=list)


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def count_top(value: float) -> float:
    """The axis top for counts: four gridlines on whole, round numbers (4, 8, 20, 40...)."""
    if value <= 4:
        return 4.0
    quarter = value / 4
    power = 10 ** math.floor(math.log10(quarter))
    for step in (1, 2, 5, 10):
        if quarter <= step * power:
            return float(4 * step * power)
    return float(40 * power)


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    *,
    y_max: float | None = None,
    y_suffix: str = "",
    label_every: int | None = None,
) -> LineChart:
    """Lines over shared x positions; ``series`` is (key, label, values), None = gap."""
    values = [v for _, _, vals in series for v in vals if v is not None]
    top_value = y_max if y_max is not None else count_top(max(values, default=0))
    left, top = float(LEFT), float(TOP)
    right, bottom = float(WIDTH - RIGHT), float(HEIGHT - BOTTOM)
    count = len(x_labels)

    def x_at(index: int) -> float:
        return left + (right - left) * (index / (count - 1) if count > 1 else 0.5)

    def y_at(value: float) -> float:
        return bottom - (bottom - top) * (value / top_value if top_value else 0)

    built = []
    for number, (key, label, vals) in enumerate(series):
        colour, marker, dash = STYLES[number % len(STYLES)]
        marks = [
            Mark(x_at(i), y_at(v) if v is not None else bottom, v, x_labels[i])
            for i, v in enumerate(vals)
        ]
        last = next((v for v in reversed(vals) if v is not None), None)
        built.append(Series(key, label, colour, marker, dash, marks, last))
    built = _spread_labels(built)
    every = label_every or max(1, math.ceil(count / 8))
    x_ticks = [Tick(x_at(i), x_labels[i]) for i in range(0, count, every)]
    y_ticks = [
        Tick(y_at(top_value * step / 4), _number(top_value * step / 4) + y_suffix)
        for step in range(5)
    ]
    table = Table(
        ["", *[label for _, label, _ in series]],
        [
            [x_labels[i]]
            + [_number(vals[i]) + y_suffix if vals[i] is not None else "—" for _, _, vals in series]
            for i in range(count)
        ],
    )
    summary = "; ".join(
        f"{s.label}: {_number(s.last) + y_suffix if s.last is not None else _('none')}"
        for s in built
    )
    return LineChart(
        title,
        summary,
        WIDTH,
        HEIGHT,
        left,
        top,
        right,
        bottom,
        built,
        x_ticks,
        y_ticks,
        table,
        empty=not values,
    )


def _spread_labels(series: list[Series], gap: float = 13.0) -> list[Series]:
    """End labels at least ``gap`` apart, so lines ending together stay readable."""
    ends = sorted((s.end.y if s.end else 0.0, index) for index, s in enumerate(series))
    placed: dict[int, float] = {}
    previous = -math.inf
    for y, index in ends:
        y = max(y, previous + gap)
        placed[index] = y
        previous = y
    return [
        Series(s.key, s.label, s.colour, s.marker, s.dash, s.marks, s.last, placed[i])
        for i, s in enumerate(series)
    ]


def bar_chart(
    title: str,
    items: Sequence[tuple[str, float | None]],
    *,
    horizontal: bool = False,
    value_suffix: str = "",
    y_max: float | None = None,
    header: tuple[str, str] | None = None,
    label_every: int = 1,
) -> BarChart:
    """Bars with their value written beside them; None draws no bar and says "—"."""
    values = [v for _, v in items if v is not None]
    top_value = y_max if y_max is not None else count_top(max(values, default=0))
    bars: list[Bar] = []
    table = Table(
        list(header or ("", _("Value"))),
        [[label, _number(v) + value_suffix if v is not None else "—"] for label, v in items],
    )
    summary = ", ".join(
        f"{label}: {_number(v) + value_suffix}" for label, v in items if v is not None
    )
    if horizontal:
        label_width = 300.0
        row = 26.0
        height = int(TOP + row * max(1, len(items)) + 6)
        span = WIDTH - label_width - 60
        for index, (label, value) in enumerate(items):
            length = span * ((value or 0) / top_value if top_value else 0)
            y = TOP + index * row
            bars.append(
                Bar(
                    label_width,
                    y,
                    max(length, 1.0 if value else 0.0),
                    row - 8,
                    label,
                    _number(value) + value_suffix if value is not None else "—",
                    label_width + length + 6,
                    y + (row - 8) / 2 + 4,
                )
            )
        return BarChart(
            title,
            summary,
            WIDTH,
            height,
            True,
            bars,
            label_width,
            label_width,
            table,
            empty=not values,
        )
    left, right = float(LEFT), float(WIDTH - 16)
    top, bottom = float(TOP + 10), float(HEIGHT - BOTTOM)
    slot = (right - left) / max(1, len(items))
    for index, (label, value) in enumerate(items):
        height = (bottom - top) * ((value or 0) / top_value if top_value else 0)
        x = left + index * slot + slot * 0.15
        bars.append(
            Bar(
                x,
                bottom - height,
                slot * 0.7,
                height,
                label if index % label_every == 0 else "",
                _number(value) + value_suffix if value is not None else "",
                x + slot * 0.35,
                bottom - height - 4,
            )
        )
    ticks = [
        Tick(bottom - (bottom - top) * step / 4, _number(top_value * step / 4) + value_suffix)
        for step in range(5)
    ]
    return BarChart(
        title,
        summary,
        WIDTH,
        HEIGHT,
        False,
        bars,
        left,
        bottom,
        table,
        empty=not values,
        ticks=ticks,
    )
