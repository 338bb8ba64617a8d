"""The leaderboard's plots, drawn with matplotlib and embedded in the page as inline SVG.

Per task: what was forgotten against what was kept (TOFU: forget quality on a log axis against model
utility; hazard track: hazard accuracy against general accuracy, chance marked), and the cost of
each method (FLOPs as a fraction of retraining, or of the run) against how much it forgot. Every
method is a point (full fine-tuning filled, LoRA hollow); the reference models are stars.
"""
from __future__ import annotations

import io
import re

import pandas as pd

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
          "#7f7f7f"]


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "leaderboard", "font.size": 9,
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _svg(fig, prefix: str) -> str:
    """The figure as an <svg> element whose ids are unique to this plot (several share one page)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    _plt().close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    p = re.sub(r"[^A-Za-z0-9_-]", "_", prefix)
    text = re.sub(r'\bid="([^"]+)"', rf'id="{p}\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{p}\1)", text)
    return re.sub(r'href="#([^"]+)"', rf'href="#{p}\1"', text)


def _points(ax, rows: pd.DataFrame, x: str, y: str, floor: float | None = None) -> None:
    """Scatter every row: methods by base name (colour, in the legend) and adapter (marker: full
    fine-tuning filled, LoRA hollow), reference models as labelled stars. Names from run folders are
    drawn as plain text (parse_math off: a '$' in a name is not TeX)."""
    plt = _plt()
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


def _complete(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["n_seeds"] > 0] if "n_seeds" in rows else rows


def tofu_plots(rows: pd.DataFrame, task: str) -> list[str]:
    plt = _plt()
    rows = _complete(rows)
    out = []
    if {"forget_quality", "model_utility"} <= set(rows.columns) and rows["forget_quality"].notna().any():
        fig, ax = plt.subplots(figsize=(5.6, 4.0))
        floor = 1e-12
        _points(ax, rows, "model_utility", "forget_quality", floor=floor)
        ax.set_yscale("log")
        ax.set_xlabel("model utility (higher is better)")
        ax.set_ylabel("forget quality, KS p-value (log; higher is better)")
        ax.set_title(f"{task}: forgetting vs utility", fontsize=10)
        out.append(_svg(fig, f"{task}-fq-"))
    if "cost_vs_retrain" in rows and rows["cost_vs_retrain"].notna().any():
        fig, ax = plt.subplots(figsize=(5.6, 4.0))
        _points(ax, rows[~rows["reference_row"]], "cost_vs_retrain", "forget_quality", floor=1e-12)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("unlearning FLOPs / FLOPs of retraining (log; lower is cheaper)")
        ax.set_ylabel("forget quality (log)")
        ax.set_title(f"{task}: cost vs forgetting", fontsize=10)
        out.append(_svg(fig, f"{task}-cost-"))
    return out


def wmdp_plots(rows: pd.DataFrame, task: str, chance: dict) -> list[str]:
    plt = _plt()
    rows = _complete(rows)
    out = []
    if {"hazard_acc", "general_acc"} <= set(rows.columns) and rows["hazard_acc"].notna().any():
        fig, ax = plt.subplots(figsize=(5.6, 4.0))
        _points(ax, rows, "general_acc", "hazard_acc")
        if chance.get("hazard_acc") is not None:
            ax.axhline(chance["hazard_acc"], ls="--", color="#999", lw=1)
            ax.annotate("chance", (ax.get_xlim()[0], chance["hazard_acc"]), textcoords="offset points",
                        xytext=(2, 3), fontsize=7, color="#777")
        if chance.get("general_acc") is not None:
            ax.axvline(chance["general_acc"], ls="--", color="#bbb", lw=1)
        ax.set_xlabel("general accuracy (higher is better)")
        ax.set_ylabel("hazard accuracy (lower is better)")
        ax.set_title(f"{task}: hazard vs general knowledge", fontsize=10)
        out.append(_svg(fig, f"{task}-acc-"))
    if "unlearn_flops" in rows and rows["unlearn_flops"].fillna(0).gt(0).any():
        fig, ax = plt.subplots(figsize=(5.6, 4.0))
        sub = rows[(~rows["reference_row"]) & rows["unlearn_flops"].fillna(0).gt(0)]
        _points(ax, sub, "unlearn_flops", "hazard_acc_drop")
        ax.set_xscale("log")
        ax.set_xlabel("unlearning FLOPs (log)")
        ax.set_ylabel("hazard accuracy drop from the base (higher is better)")
        ax.set_title(f"{task}: cost vs forgetting", fontsize=10)
        out.append(_svg(fig, f"{task}-cost-"))
    return out


def plots_for(family: str, rows: pd.DataFrame, task: str, chance: dict) -> list[str]:
    try:
        return wmdp_plots(rows, task, chance) if family == "wmdp" else tofu_plots(rows, task)
    except (ValueError, KeyError) as e:  # a plot must never take the tables down with it
        return [f"<p class='note'>plot unavailable: {type(e).__name__}</p>"]


