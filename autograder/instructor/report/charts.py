"""The report's charts: matplotlib figures as inline, accessible SVG (real text, no fonts or
images fetched), in colours told apart with any common colour blindness."""

from __future__ import annotations

import io
import re
import statistics
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .data import Submission

__all__ = ["fmt", "score_chart", "seconds_chart"]

# Okabe-Ito: told apart by people with any common colour blindness.
BLUE, ORANGE, VERMILLION, GREEN, GREY = "#0072B2", "#E69F00", "#D55E00", "#009E73", "#6B6B6B"


def _svg(figure, title: str) -> str:
    """A matplotlib figure as inline, accessible SVG markup."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<svg\b", f'<svg role="img" aria-label="{escape(title)}"', svg, count=1)
    return svg


def _style():
    import matplotlib

    return matplotlib.rc_context(
        {
            "svg.fonttype": "none",  # real text: crisp and selectable
            "font.family": "sans-serif",
            "font.size": 11,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.edgecolor": "#9A9A9A",
            "axes.labelcolor": "#222222",
            "xtick.color": "#333333",
            "ytick.color": "#333333",
        }
    )


def fmt(value: float | None, digits: int = 2) -> str:
    """A number as the page shows it: a decimal comma, at most ``digits`` decimals."""
    if value is None:
        return "—"
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"
    return text.replace(".", ",")


def score_chart(scores: list[float], max_score: float) -> str:
    """Bars of how many submissions got each score (bins when there are many scores)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    with _style():
        figure = Figure(figsize=(10, 3.4))
        axes = figure.subplots()
        distinct = sorted({round(s, 4) for s in scores})
        top = max(max_score, max(scores, default=0.0)) or 1.0
        if len(distinct) <= 12:
            counts = [sum(1 for s in scores if round(s, 4) == d) for d in distinct]
            width = top / 14
            bars = axes.bar(distinct, counts, width=width, color=BLUE, zorder=2)
            axes.set_xticks(distinct, [fmt(d) for d in distinct])
        else:
            counts, edges, bars = axes.hist(
                scores, bins=10, range=(0, top), color=BLUE, edgecolor="white", zorder=2
            )
            axes.set_xticks(edges, [fmt(e) for e in edges])
        axes.bar_label(bars, labels=[str(int(c)) if c else "" for c in counts], padding=2)
        average = statistics.fmean(scores)
        axes.axvline(
            average,
            color=VERMILLION,
            linestyle="--",
            linewidth=1.5,
            zorder=3,
            label=f"Media: {fmt(average)}",
        )
        axes.set_xlim(-top / 12, top + top / 12)
        axes.set_ylim(0, max(counts) * 1.25 + 0.5)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(axis="y", color="#E3E3E3", zorder=0)
        axes.set_xlabel(f"Puntuación (sobre {fmt(max_score)})")
        axes.set_ylabel("Entregas")
        axes.legend(frameon=False, loc="upper left")
        return _svg(figure, "Distribución de las notas")


def seconds_chart(rows: list[Submission]) -> str:
    """Horizontal bars of the seconds each submission took, slowest first."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    timed = sorted((r for r in rows if r.seconds is not None), key=lambda r: -r.seconds)
    with _style():
        figure = Figure(figsize=(10, 1.0 + 0.3 * len(timed)))
        axes = figure.subplots()
        positions = list(range(len(timed)))
        troubled = [any(i.category in ("tiempo", "fallo") for i in r.incidents) for r in timed]
        colors = [ORANGE if t else BLUE for t in troubled]
        hatches = ["//" if t else "" for t in troubled]
        bars = axes.barh(positions, [r.seconds for r in timed], color=colors, zorder=2)
        # Student ids are text, never mathtext ("$" in a folder name).
        axes.set_yticks(positions, [r.student for r in timed], parse_math=False)
        for bar, hatch in zip(bars, hatches, strict=True):
            bar.set_hatch(hatch)
            bar.set_edgecolor("white")
        axes.bar_label(bars, labels=[f"{fmt(r.seconds, 1)} s" for r in timed], padding=3)
        axes.invert_yaxis()
        axes.set_xlim(0, max(r.seconds for r in timed) * 1.18 + 0.1)
        axes.grid(axis="x", color="#E3E3E3", zorder=0)
        axes.set_xlabel("Segundos de calificación")
        if any(troubled):
            axes.legend(
                handles=[
                    Patch(color=BLUE, label="Sin incidencias"),
                    Patch(facecolor=ORANGE, hatch="//", edgecolor="white", label="Tiempo o fallo"),
                ],
                frameon=False,
                loc="lower right",
            )
        return _svg(figure, "Segundos de calificación por entrega")
