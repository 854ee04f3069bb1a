"""The report's charts, drawn by matplotlib and rendered offline to static SVG.

Each function returns one ``<svg>`` element to inline in the HTML page: no script, no
CDN, no font files (text stays text, ``svg.fonttype = none``, so the browser draws the
Chinese names with its own fonts). The figures are built with ``Figure`` directly, not
pyplot, so nothing global is touched, and ``svg.hashsalt`` is fixed so that the same
figures give the same bytes.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Sequence
from typing import Any

import matplotlib as mpl
from cycler import cycler
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

_PALETTE = ["#2b6cb0", "#38a169", "#d69e2e", "#e53e3e", "#805ad5", "#319795", "#dd6b20", "#718096"]
_STYLE: dict[Any, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "linkgraph",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=_PALETTE),
}


def _svg(fig: Figure) -> str:
    """The figure as an ``<svg>`` element (the XML prologue and doctype dropped)."""
    buffer = io.StringIO()
    with warnings.catch_warnings():
        # layout is measured with DejaVu Sans, which lacks CJK glyphs; the browser draws them
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return re.sub(r"^.*?(?=<svg)", "", text, flags=re.S)


def bar_chart(pairs: list[tuple[str, float]], *, unit: str = "", width: float = 7.0) -> str:
    """A horizontal bar chart of ``(label, value)`` pairs, largest first as given.

    ``bar_chart([("pay", 3), ("hold", 1)])`` -> ``'<svg ...>…</svg>'``; labels are escaped
    as SVG text.
    """
    if not pairs:
        return "<p><em>none</em></p>"
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(width, 0.28 * len(pairs) + 0.4))
        ax = fig.add_subplot()
        labels = [label for label, _ in pairs]
        values = [value for _, value in pairs]
        y = range(len(pairs))
        ax.barh(y, values, color=[_PALETTE[i % len(_PALETTE)] for i in y])
        ax.set_yticks(list(y), labels)
        ax.invert_yaxis()
        ax.xaxis.set_visible(False)
        ax.spines["bottom"].set_visible(False)
        top = max(values) or 1
        for i, value in enumerate(values):
            ax.text(value + top * 0.01, i, f"{value:,.0f}{unit}", va="center")
        ax.set_xlim(0, top * 1.18)
        return _svg(fig)


def line_chart(
    months: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    title: str,
    unit: str = "",
    width: float = 7.0,
) -> str:
    """One line per series over the months (points marked, so one month shows too)."""
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(width, 2.8))
        ax = fig.add_subplot()
        for name, values in series.items():
            ax.plot(list(months), list(values), marker="o", markersize=3, label=name)
        ax.set_title(title, loc="left")
        if unit:
            ax.set_ylabel(unit)
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.tick_params(axis="x", labelrotation=45)
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        return _svg(fig)
