"""Small charts drawn on the server as SVG: no script, nothing from another site."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 640, 220, 44, 28, 12


@dataclass(frozen=True)
class Point:
    label: str
    value: float


def _frame(title: str, body: list[str], top: float) -> str:
    axis = (
        f'<line class="axis" x1="{PAD_LEFT}" y1="{HEIGHT - PAD_BOTTOM}" '
        f'x2="{WIDTH}" y2="{HEIGHT - PAD_BOTTOM}"/>'
        f'<line class="axis" x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{HEIGHT - PAD_BOTTOM}"/>'
        f'<text x="4" y="{PAD_TOP + 10}">{_number(top)}</text><text x="4" y="{HEIGHT - PAD_BOTTOM}">0</text>'
    )
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{axis}{"".join(body)}</svg>'
    )


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.2f}"


def _labels(points: Sequence[Point], x_of: list[float]) -> list[str]:
    every = max(1, len(points) // 8)
    return [
        f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(p.label)}</text>'
        for i, (p, x) in enumerate(zip(points, x_of, strict=True))
        if i % every == 0
    ]


def bar_chart(title: str, points: Sequence[Point]) -> str:
    top = max((p.value for p in points), default=0) or 1
    span = (WIDTH - PAD_LEFT - 8) / max(1, len(points))
    height = HEIGHT - PAD_BOTTOM - PAD_TOP
    bars, centres = [], []
    for i, point in enumerate(points):
        h = height * point.value / top
        x = PAD_LEFT + 4 + i * span
        centres.append(x + span * 0.4)
        bars.append(
            f'<rect class="bar" x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM - h:.1f}" '
            f'width="{span * 0.8:.1f}" height="{h:.1f}">'
            f"<title>{escape(point.label)}: {_number(point.value)}</title></rect>"
        )
    return _frame(title, bars + _labels(points, centres), top)


def line_chart(title: str, points: Sequence[Point], *, top: float | None = None) -> str:
    ceiling = top or max((p.value for p in points), default=0) or 1
    height = HEIGHT - PAD_BOTTOM - PAD_TOP
    step = (WIDTH - PAD_LEFT - 16) / max(1, len(points) - 1)
    xs = [PAD_LEFT + 8 + i * step for i in range(len(points))]
    ys = [HEIGHT - PAD_BOTTOM - height * min(p.value, ceiling) / ceiling for p in points]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    body = [f'<polyline class="line" points="{path}"/>'] if points else []
    return _frame(title, body + _labels(points, xs), ceiling)
