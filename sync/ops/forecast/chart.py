"""The forecast as a PNG a delivery lead reads without explanation (matplotlib, Agg: no display).

One panel per group (with ``--by role``, per role of the plans' tasks; the six biggest; the rest
summed as "other"), sharing the hours axis so panels compare at a glance. Each month is a stacked
bar: won work (booked projects, solid) under the pipeline weighted by probability (lighter,
hatched). A group's capacity is a dashed line; a month whose total passes it gets a red outline and
the hours over it written above the bar. 1200×700 pixels (12×7 inches at 100 dpi); the JSON of
``--format json`` is stored in the PNG's ``Description`` text chunk, so the picture's numbers can
be checked against the table's.

Names are data: every text drawn from them is drawn with ``parse_math=False``, since matplotlib
reads ``$…$`` as mathtext and a group named ``$\\foo$`` stopped the chart (exit 70).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.patches import Patch  # noqa: E402

SIZE_INCHES, DPI = (12, 7), 100
MAX_PANELS = 6
WON, PIPELINE, CAPACITY, OVER = "#1f5fa8", "#8fb8e8", "#444444", "#c62828"


def write_png(data: dict[str, Any], out: Path) -> None:
    """Draw ``data`` (from :func:`sync.ops.forecast.render.forecast_data`) into ``out``."""
    groups = _panels(data["groups"])
    fig, axes = plt.subplots(
        1, max(len(groups), 1), figsize=SIZE_INCHES, dpi=DPI, sharey=True, squeeze=False
    )
    labels = [date.fromisoformat(m + "-01").strftime("%b\n%Y") for m in data["months"]]
    top = max([max(g["total"] + [g["capacity"] or 0]) for g in groups] + [1]) * 1.18
    for ax, group in zip(axes[0], groups, strict=False):
        _panel(ax, group, labels, top)
    if not groups:
        axes[0][0].text(
            0.5,
            0.5,
            "No won or pipeline work in these months",
            ha="center",
            va="center",
            transform=axes[0][0].transAxes,
        )
    axes[0][0].set_ylabel("Hours of delivery work per month (h)")
    by = data["by"].replace("_", " ")
    fig.suptitle(
        f"Delivery forecast: hours per month by {by}",
        fontsize=16,
        fontweight="bold",
        y=0.975,
        parse_math=False,
    )
    fig.text(
        0.5,
        0.905,
        f"{_what(data['by'])}; as of {data['as_of']}, {data['deals']['won']} won and "
        f"{data['deals']['pipeline']} pipeline deals",
        ha="center",
        fontsize=10,
        color="#333333",
    )
    fig.legend(
        handles=_legend(any(g["capacity"] is not None for g in groups)),
        loc="lower center",
        ncol=4,
        frameon=False,
        fontsize=10,
    )
    fig.supxlabel("Month", y=0.075, fontsize=11)
    fig.subplots_adjust(left=0.07, right=0.985, top=0.84, bottom=0.2, wspace=0.08)
    fig.savefig(
        out, dpi=DPI, format="png", metadata={"Description": json.dumps(data, sort_keys=True)}
    )
    plt.close(fig)


def _what(by: str) -> str:
    if by == "role":
        return "Tasks of won projects plus tasks of tentative projects weighted by probability"
    return "Won deals (booked projects) plus open pipeline weighted by probability"


def _panel(ax, group: dict, labels: list[str], top: float) -> None:
    xs = list(range(len(labels)))
    ax.bar(xs, group["won"], color=WON, width=0.7)
    ax.bar(
        xs,
        group["pipeline"],
        bottom=group["won"],
        color=PIPELINE,
        hatch="//",
        edgecolor="white",
        width=0.7,
    )
    capacity = group["capacity"]
    if capacity is not None:
        ax.axhline(capacity, color=CAPACITY, linestyle="--", linewidth=1.6)
        ax.text(
            len(xs) - 0.5,
            capacity + top * 0.008,
            f"capacity {capacity:,.0f} h",
            ha="right",
            va="bottom",
            fontsize=8,
            color=CAPACITY,
        )
    for x, total, over in zip(xs, group["total"], group["over_capacity"], strict=True):
        if over:
            ax.bar([x], [total], width=0.7, fill=False, edgecolor=OVER, linewidth=2.2)
            ax.text(
                x,
                total + top * 0.015,
                f"+{total - capacity:,.0f} h\nover",
                ha="center",
                va="bottom",
                fontsize=8,
                color=OVER,
                fontweight="bold",
            )
        elif total > 0:
            ax.text(
                x,
                total + top * 0.015,
                f"{total:,.0f}",
                ha="center",
                va="bottom",
                fontsize=8,
                color="#333333",
            )
    ax.set_title(group["group"], fontsize=12, fontweight="bold", parse_math=False)
    ax.set_xticks(xs, labels, fontsize=9)
    ax.set_ylim(0, top)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _legend(with_capacity: bool) -> list:
    handles = [
        Patch(color=WON, label="Won (booked projects)"),
        Patch(facecolor=PIPELINE, hatch="//", edgecolor="white", label="Pipeline × probability"),
    ]
    if with_capacity:
        handles.append(plt.Line2D([], [], color=CAPACITY, linestyle="--", label="Capacity"))
        handles.append(Patch(fill=False, edgecolor=OVER, linewidth=2, label="Month over capacity"))
    return handles


def _panels(groups: list[dict]) -> list[dict]:
    """The biggest groups, the rest summed as one "other" panel.

    ``groups`` comes sorted by total.
    """
    if len(groups) <= MAX_PANELS:
        return groups
    kept, rest = groups[: MAX_PANELS - 1], groups[MAX_PANELS - 1 :]
    count = len(rest[0]["won"])
    summed = {
        kind: [round(sum(g[kind][i] for g in rest), 1) for i in range(count)]
        for kind in ("won", "pipeline", "total")
    }
    return [
        *kept,
        {
            "group": f"other ({len(rest)} groups)",
            **summed,
            "capacity": None,
            "over_capacity": [False] * count,
        },
    ]
