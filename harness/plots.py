"""The leaderboard's plots, drawn with matplotlib and embedded in the page as inline SVG.

Each track draws its own figures (its `plots`) with these helpers: every method is a point (full
fine-tuning filled, LoRA hollow), the reference models are labelled stars, and each SVG's ids are
made unique so several share one page.
"""
from __future__ import annotations

import io
import re

import pandas as pd

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
          "#7f7f7f", "#393b79", "#e7ba52", "#637939", "#ad494a", "#7b4173", "#31a354"]  # 16: one per method


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "leaderboard", "font.size": 9,
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


def svg(fig, prefix: str) -> str:
    """The figure as an <svg> element whose ids are unique to this plot (several share one page)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    pyplot().close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    p = re.sub(r"[^A-Za-z0-9_-]", "_", prefix)
    text = re.sub(r'\bid="([^"]+)"', rf'id="{p}\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{p}\1)", text)
    return re.sub(r'href="#([^"]+)"', rf'href="#{p}\1"', text)


def points(ax, rows: pd.DataFrame, x: str, y: str, floor: float | None = None) -> None:
    """Scatter every row: methods by base name (colour, in the legend) and adapter (marker: full
    fine-tuning filled, LoRA hollow), reference models as labelled stars. Names from run folders are
    drawn as plain text (parse_math off: a '$' in a name is not TeX)."""
    plt = pyplot()
    methods = sorted({str(m).split("+")[0].split(" ")[0] for m in rows.loc[~rows["reference_row"], "method"]})
    color = {m: COLORS[i % len(COLORS)] for i, m in enumerate(methods)}
    for _, r in rows.iterrows():
        xv, yv = r.get(x), r.get(y)
        if xv is None or yv is None or pd.isna(xv) or pd.isna(yv):
            continue
        if floor is not None:
            yv = max(yv, floor)
        label = str(r["method"])
        if r["reference_row"]:
            ax.scatter([xv], [yv], marker="*", s=170, color="#2a9d3a" if label == "retain" else "#222", zorder=3)
            ax.annotate(label, (xv, yv), textcoords="offset points", xytext=(7, 4), fontsize=8, weight="bold",
                        parse_math=False)
            continue
        base = label.split("+")[0].split(" ")[0]
        lora = "+lora" in label
        ax.scatter([xv], [yv], marker="^" if lora else "o", s=46, zorder=2, alpha=0.9,
                   facecolors="white" if lora else color[base], edgecolors=color[base], linewidths=1.5)
    handles = [plt.Line2D([], [], marker="o", ls="", color=color[m], label=m) for m in methods]
    handles += [plt.Line2D([], [], marker="o", ls="", color="#555", label="full fine-tuning"),
                plt.Line2D([], [], marker="^", ls="", mfc="white", mec="#555", label="LoRA"),
                plt.Line2D([], [], marker="*", ls="", color="#222", ms=11, label="reference model")]
    leg = ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
    for t in leg.get_texts():
        t.set_parse_math(False)


def complete(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["n_seeds"] > 0] if "n_seeds" in rows else rows


def plots_for(track, rows: pd.DataFrame, task: str, chance: dict) -> list[str]:
    """The figures a track draws for one task (None: an unknown family, no figures)."""
    if track is None:
        return []
    try:
        return track.plots(rows, task, chance)
    except (ValueError, KeyError) as e:  # a plot must never take the tables down with it
        return [f"<p class='note'>plot unavailable: {type(e).__name__}</p>"]
