"""The leaderboard's plots, drawn with matplotlib and embedded in the page as inline SVG.

Each track draws its own figures (its `plots`) with these helpers: every method is a point (full
fine-tuning filled, LoRA hollow), the reference models are labelled stars, and each SVG's ids are
made unique so several share one page. `series_plots` draws what run folders record over time: the
unlearning curves (curve.jsonl) and the numbers after each sequential request (requests.jsonl).
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
    color = method_colors(rows)
    methods = sorted(color)
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
        base = method_base(label)
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


def method_colors(rows: pd.DataFrame) -> dict:
    """The colour of each method's base name, as `points` assigns them (the same method, the same
    colour in every figure of a task)."""
    methods = sorted({method_base(m) for m in rows.loc[~rows["reference_row"], "method"]})
    return {m: COLORS[i % len(COLORS)] for i, m in enumerate(methods)}


def method_base(label) -> str:
    """A row's method without its variant: 'npo+lora' and 'npo (lr=1e-4)' are both 'npo'."""
    return str(label).split("+")[0].split(" ")[0]


def _first(series: dict, run_ids, key: str) -> tuple[str, list] | tuple[None, None]:
    """The first run (seed order) of a row whose folder has `key` (curve, requests): one line per row."""
    for rid in run_ids or []:
        got = (series.get(str(rid)) or {}).get(key)
        if got:
            return str(rid), got
    return None, None


def _legend(ax) -> None:
    leg = ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
    for t in leg.get_texts():
        t.set_parse_math(False)  # names from run folders are plain text, never TeX


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and pd.notna(v) else None


def line_figure(lines: list[dict], x: str, y: str, title: str, ylabel: str, prefix: str, log: bool = False,
                floors=()) -> str:
    """One metric against step or request number, a line per method (`lines`: {label, color, dashed,
    points}, each point a dict with x and y), the selected points ringed, floors dashed grey."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    for ln in lines:
        pts = [(p[x], _num(p.get(y)), p.get("selected")) for p in ln["points"] if _num(p.get(y)) is not None]
        if not pts:
            continue
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=ln["color"], lw=1.4, marker=".", ms=5,
                ls="--" if ln.get("dashed") else "-", label=ln["label"])
        ring = [p for p in pts if p[2]]
        if ring:
            ax.scatter([p[0] for p in ring], [p[1] for p in ring], s=80, facecolors="none", edgecolors=ln["color"],
                       linewidths=1.6, zorder=3)
    for f in sorted(set(floors)):
        ax.axhline(f, ls="--", lw=1, color="#999")
    if log:
        ax.set_yscale("log")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("optimizer step" if x == "step" else "unlearning request")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    _legend(ax)
    return svg(fig, prefix)


def _better(direction: str | None) -> str:
    return {"higher": " (higher is better)", "lower": " (lower is better)"}.get(direction or "", "")


def series_plots(track, rows: pd.DataFrame, series: dict, task: str, metrics: dict) -> list[str]:
    """The figures drawn from run folders' series (harness/curves.py run_series): the unlearning curves
    (full fine-tuning rows) and the per-request plot (tasks with requests). `series`: run_id -> series."""
    rows = complete(rows)
    if rows.empty or not series:
        return []
    color = method_colors(rows)
    methods = rows[~rows["reference_row"]]
    out = []
    curves, rules = [], []
    full = methods[methods["adapter"] == "none"] if "adapter" in methods else methods
    for _, r in full.iterrows():
        rid, pts = _first(series, r.get("run_ids"), "curve")
        if pts:
            curves.append({"label": str(r["method"]), "color": color.get(method_base(r["method"]), "#555"),
                           "points": pts})
            rules.append((series[rid].get("rule") or {}))
    if curves:
        chosen = {str(x.get("select", "last")).partition(":")[2] for x in rules} - {""}
        forget = chosen.pop() if len(chosen) == 1 else getattr(track, "curve_forget", None)
        forget = forget or next(k for k in curves[0]["points"][0] if k not in ("step", "request", "selected"))
        utility = getattr(track, "curve_utility", None)
        dirs = getattr(track, "curve_metrics", {}) or {}
        floors = [x["floor"] * x["base_utility"] for x in rules if x.get("select", "last") != "last"
                  and _num(x.get("floor")) is not None and _num(x.get("base_utility")) is not None]
        out.append(line_figure(curves, "step", forget, f"{task}: unlearning curve (ringed: the step kept)",
                               forget + _better(dirs.get(forget)), f"{task}-curve-f-"))
        if utility and utility != forget:
            out.append(line_figure(curves, "step", utility, f"{task}: utility proxy during unlearning",
                                   utility + _better(dirs.get(utility)) + (" - dashed: rule floor" if floors else ""),
                                   f"{task}-curve-u-", floors=floors))
    reqs = []
    for _, r in methods.iterrows():
        _, entries = _first(series, r.get("run_ids"), "requests")
        if entries:
            points = [{"request": e["request"], **(e.get("metrics") or {})} for e in entries if "request" in e]
            reqs.append({"label": str(r["method"]), "color": color.get(method_base(r["method"]), "#555"),
                         "dashed": "+lora" in str(r["method"]), "points": points})
    if reqs:
        pair = getattr(track, "request_metrics", None) or _headline_pair(metrics)
        for i, m in enumerate(pair or ()):
            spec = metrics.get(m) or {}
            out.append(line_figure(reqs, "request", m, f"{task}: {m} after each request", m + _better(
                spec.get("direction")), f"{task}-requests-{i}-", log=bool(spec.get("log_scale"))))
    return out


def _headline_pair(metrics: dict) -> tuple[str, str] | None:
    """The first headline forget and utility metrics a task declares (a track without request_metrics)."""
    first = lambda role: next((m for m, s in metrics.items() if s.get("headline") and s.get("role") == role), None)  # noqa: E731
    f, u = first("forget"), first("utility")
    return (f, u) if f and u else None


def sisa_plot(rows: pd.DataFrame, task: str) -> list[str]:
    """The page's SISA figure for one task (none without two SISA settings)."""
    fig = sisa_figure(rows, task)
    return [svg(fig, f"sisa-{task}")] if fig is not None else []


def sisa_figure(rows: pd.DataFrame, task: str):
    """SISA against its number of shards K (rows whose form recorded `shards`): the unlearning cost of
    the request as a share of retraining, forget quality, and model utility beside the monolithic
    target's (dashed): the price of sharding and what it buys."""
    if "shards" not in rows or "form" not in rows:
        return None
    sisa = rows[(rows["form"] == "exact") & rows["shards"].notna()].sort_values("shards")
    if len(sisa) < 2:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    k = [int(v) for v in sisa["shards"]]
    for col, label, color in (("cost_vs_retrain", "unlearning FLOPs / retraining", "#1f77b4"),
                              ("forget_quality", "forget quality", "#d62728"),
                              ("model_utility", "model utility", "#2ca02c")):
        if col in sisa and sisa[col].notna().any():
            ax.plot(k, [_num(v) for v in sisa[col]], marker="o", ms=4, lw=1.4, color=color, label=label)
    target = rows[rows["method"] == "target"]
    if len(target) and "model_utility" in target and _num(target["model_utility"].iloc[0]) is not None:
        ax.axhline(_num(target["model_utility"].iloc[0]), ls="--", lw=1, color="#2ca02c",
                   label="model utility of the target")
    ax.set_xscale("log", base=2)
    ax.set_xticks(k, [str(v) for v in k])
    ax.set_xlabel("shards K (K = 1: retraining)")
    ax.set_title(f"{task}: SISA, exact unlearning by shards", fontsize=10)
    _legend(ax)
    return fig
