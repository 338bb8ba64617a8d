"""results/leaderboard.html: one self-contained page (no network), a section per track.

Per task: the plots (harness/plots.py), then the table: the method column frozen, the headline
columns first (as the task file declares them) and the rest behind a toggle, sortable columns, the
best value of each column marked by its declared direction, the reference models (target, retain,
base) pinned as reference lines, diverged runs shown with their status, and a detail view per row
(config, method arguments, compute record, provenance).

Safety: every string that comes from a run folder (method, task and metric names, configs, errors)
reaches the page only as JSON inside a <script type="application/json"> block, with <, > and &
escaped, and is put into the document with textContent, never parsed as HTML.
"""
from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

import pandas as pd

from harness.plots import plots_for, series_plots, sisa_plot
from harness.significance import from_runs, page_plots, tied_with_leader
from harness.attack_settings import parse_attack_column
from harness.families import load_tracks
from harness.tasks import DEFAULT_FAMILY

# the page's HTML skeleton, style sheet and script: package files beside this module, filled by render()
HERE = Path(__file__).resolve().parent

INTEGER = {"ks_n", "n_seeds", "n_worlds", "epochs", "n_diverged", "steps", "tokens_forward", "tokens_backward", "trainable_params",
           "forget_n", "retain_n", "hazard_n", "general_n"}
HEADLINE_COMPUTE = ["cost_vs_retrain"]
OTHER_COMPUTE = ["unlearn_s", "eval_s", "steps", "trainable_params", "unlearn_flops", "flops", "peak_mem_mb",
                 "peak_rss_mb", "gpu_peak_mem_mb", "time_vs_retrain"]
COMPUTE_DESC = {
    "cost_vs_retrain": "unlearning FLOPs / FLOPs of training the retain model (exact unlearning); lower is cheaper",
    "time_vs_retrain": "unlearning seconds / seconds of training the retain model (on the same kind of device; "
                       "empty otherwise)",
    "unlearn_s": "wall seconds of unlearning", "eval_s": "wall seconds of evaluation",
    "steps": "optimizer steps", "trainable_params": "parameters that received gradients",
    "unlearn_flops": "FLOPs of unlearning (matmuls that ran, gradients that were computed)",
    "flops": "FLOPs of unlearning and evaluation",
    "peak_mem_mb": "memory this run added at its peak (MB above what the process held when it began)",
    "peak_rss_mb": "the process's peak resident memory during this run (MB, absolute)",
    "gpu_peak_mem_mb": "this run's peak GPU allocation (MB)"}
FORM_DESC = {  # the other forms of unlearning (harness/forms/): their guarantee or their cost
    "epsilon": "DP target: the epsilon the privacy accountant computed (per training example, at delta)",
    "delta": "DP target: the delta epsilon is reported at (default n^-1.1)",
    "author_examples": "DP target: the most training examples one author's data is in (k)",
    "author_epsilon": "DP target: group-privacy epsilon for one author, k x epsilon",
    "author_delta": "DP target: group-privacy delta for one author, k e^((k-1) epsilon) delta, capped at 1 "
                    "(1 = no author-level guarantee)",
    "extra_prompt_tokens": "in-context: prompt tokens the policy adds to every question (its cost, paid per query)",
    "train_vs_target": "training cost of the form's model(s) / the ordinary target's (SISA: FLOPs; DP: seconds)",
    "n_retrained_shards": "SISA: shards the request retrained", "shards": "SISA: constituents (K)"}
ROBUSTNESS_DESC = ("harmonic mean of 1 - recovery under 4-bit quantisation and under 10 relearning steps; 1: "
                   "nothing comes back, 0: an attack undoes the forgetting (docs/metrics.md)")
RECOVERY_DESC = "share of what the method removed that comes back, beyond the control's change"
REMOVED_DESC = ("what the method removed on the attacked items (target minus unlearned, paired per item); recovery "
                "is left empty when this is within 2 standard errors (the run's detail view says so)")


def _clean(v):
    """JSON-safe value: NaN/inf become None, numpy scalars plain numbers."""
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (list, dict, str)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (int, float, str, bool)):
        return v
    return str(v)


def _columns(spec: dict, table: pd.DataFrame) -> list[dict]:
    metrics = spec.get("metrics") or {}
    cols, seen = [], set()

    def add(key, kind, s=None, headline=False):
        if key in seen or key not in table.columns or not table[key].notna().any():
            return
        seen.add(key)
        s = s or {}
        cols.append({"key": str(key), "kind": kind, "direction": s.get("direction"), "reference": s.get("reference") or None,
                     "headline": bool(headline), "description": s.get("description") or COMPUTE_DESC.get(key, ""),
                     "integer": key in INTEGER, "log": bool(s.get("log_scale"))})

    ordered = sorted(metrics.items(), key=lambda kv: not kv[1].get("headline"))  # headline first, stable
    for name, s in ordered:
        add(name, "metric", s, s.get("headline"))
        for c in s.get("companions") or []:
            add(c, "companion", {"description": metrics.get(c, {}).get("description", "")}, s.get("headline"))
    for c in HEADLINE_COMPUTE:
        add(c, "compute", {"direction": "lower"}, True)
    if not any(c["kind"] == "compute" for c in cols):  # no retraining baseline (hazard track): raw FLOPs
        add("unlearn_flops", "compute", {"direction": "lower"}, True)
    # robustness (harness/robustness.py) with the headline columns; the attack columns
    # (harness/leaderboard.py attack_columns) behind the toggle
    add("robustness", "metric", {"direction": "higher", "description": ROBUSTNESS_DESC}, True)
    with_recovery = {**metrics, "recovery": {"direction": "lower"}, "removed": {"direction": None}}
    for c in table.columns:
        parsed = parse_attack_column(str(c), with_recovery) if c not in metrics else None
        if parsed:
            attack, label, base = parsed
            what = {"recovery": RECOVERY_DESC, "removed": REMOVED_DESC}.get(base, base)
            add(c, "attack", {**with_recovery[base], "description": f"{what} under the {attack} attack ({label})"})
    add("n_seeds", "info", {"description": "seeds that completed (the aggregate is over these)"}, True)
    add("lr", "info", {"description": "unlearning learning rate (method arguments: click the method)"})
    add("epochs", "info", {"description": "passes over the forget set"})
    for c in OTHER_COMPUTE:
        add(c, "compute")
    for c, d in FORM_DESC.items():
        add(c, "info", {"description": d})
    return cols


def _disambiguate(rows: pd.DataFrame) -> dict:
    """Row labels: a method with several settings in one task gets what differs (lr, method args)."""
    labels = {}
    for method, g in rows.groupby("method", sort=False):
        if len(g) == 1:
            labels[g.index[0]] = method
            continue
        for i, r in g.iterrows():
            args = json.loads(r.get("method_args") or "{}")
            others = [json.loads(x or "{}") for x in g["method_args"]]
            diff = [f"{k}={v}" for k, v in args.items() if any(o.get(k) != v for o in others)]
            if len(set(g["lr"].astype(str))) > 1:
                diff.insert(0, f"lr={r['lr']:g}")
            if len(set(g["epochs"].astype(str))) > 1:
                diff.append(f"epochs={r['epochs']}")
            labels[i] = f"{method} ({', '.join(diff) or r.get('replicate') or r['setting']})"
    return labels


def _task_data(task: str, rows: pd.DataFrame, spec: dict) -> dict:
    cols = _columns(spec, rows)
    labels = _disambiguate(rows)
    out_rows = []
    for i, r in rows.iterrows():
        values = {c["key"]: _clean(r.get(c["key"])) for c in cols}
        refs = {c["reference"]: _clean(r.get(c["reference"])) for c in cols if c["reference"]}
        out_rows.append({
            "label": labels[i], "reference": bool(r.get("reference_row")), "status": str(r["status"]),
            "form": _clean(r.get("form")), "note": _clean(r.get("note")),
            "error": _clean(r.get("error")), "seeds": str(r["seed"]), "n_seeds": int(r["n_seeds"]),
            "n_diverged": int(r.get("n_diverged") or 0), "lr": _clean(r.get("lr")), "epochs": _clean(r.get("epochs")),
            "adapter": str(r.get("adapter")),
            "method_args": _clean_tree(json.loads(r.get("method_args") or "{}"), words=True),
            "values": values, "refs": refs,
            "std": {c["key"]: _clean(r.get(f"{c['key']}_std")) for c in cols},
            # every metric's interval (`<metric>_ci`: TOFU's, MUSE's ROUGE means, the hazard accuracies)
            "ci": {str(c)[:-3]: _clean(r.get(c)) for c in r.index
                   if str(c).endswith("_ci") and isinstance(r.get(c), (list, tuple))},
            "run_ids": [str(x) for x in r["run_ids"]],
            "eligible": None if pd.isna(r.get("eligible")) else bool(r.get("eligible")),
            "eligible_why": _clean(r.get("eligible_why")),
            "eligible_tag": _tag(r.get("eligible_why")) if r.get("eligible") is False else "",
            "warnings": _clean(r.get("warnings")), "flags": _clean(r.get("flags"))})
    return {"name": task, "family": spec.get("family", DEFAULT_FAMILY), "columns": cols, "rows": out_rows}


def _tag(why) -> str:
    """The short tag of a row that does not compete for the marks (its reason is the tooltip)."""
    why = why if isinstance(why, str) else ""
    return "no forgetting" if why.startswith("did not forget") else "utility lost" if why.startswith("lost utility") \
        else "not ranked"


def _json_script(obj) -> str:
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    for a, b in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(a, b)
    return text


def _family_order(tasks: list[dict]) -> list[str]:
    """Sections in order of how many rows each family has (the main benchmark first), then by name."""
    rows: dict[str, int] = {}
    for t in tasks:
        rows[t["family"]] = rows.get(t["family"], 0) + len(t["rows"])
    return sorted(rows, key=lambda f: (-rows[f], f))


def render(report) -> str:
    table, specs = report.table, report.specs
    tasks, plots = [], {}
    sure = from_runs(report.runs, specs)  # replicated studies: intervals, pairs, ranks (docs/statistics.md)
    if not table.empty:
        for task, rows in table.groupby("task", sort=True):
            spec = specs.get(task, {"family": DEFAULT_FAMILY, "metrics": {}})
            tasks.append({**_task_data(task, rows, spec), "tied": tied_with_leader((sure.get(task) or {}).get("ranks") or [])})
            chance = {m: s.get("chance") for m, s in (spec.get("metrics") or {}).items()}
            track = load_tracks().get(spec.get("family", DEFAULT_FAMILY))
            plots[task] = (plots_for(track, rows, task, chance) + _series_plots(track, rows, report.details, task, spec)
                           + sisa_plot(rows, task) + page_plots(task, sure.get(task)))
    # the curves and per-request numbers are drawn, not shipped in the page's data
    details = {k: {kk: _clean_tree(vv, words=True) for kk, vv in v.items() if kk != "series"}
               for k, v in report.details.items()}
    data = {"built": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "n_runs": len(report.details), "broken": [[str(a), str(b)] for a, b in report.broken],
            "families": {name: t.title for name, t in load_tracks().items()}, "tasks": tasks, "details": details,
            "family_order": _family_order(tasks), "selected": _selected_data(report),
            "meta_eval": trust_rows(Path(getattr(report, "folder", "results"))),
            "runs_folder": f"{getattr(report, 'folder', 'results')}/runs/"}
    # Plot SVGs are produced by matplotlib, which escapes every text it draws; each goes into a
    # <template> keyed by position, so no run-folder string is ever spliced into HTML here.
    templates = "".join(f"<template id='plots-{i}'>{''.join(plots[t['name']])}</template>"
                        for i, t in enumerate(tasks))
    if data["meta_eval"]:
        templates += f"<template id='plots-trust'>{trust_plot(data['meta_eval'])}</template>"
    page, css, js = ((HERE / f"page.{ext}").read_text(encoding="utf-8") for ext in ("html", "css", "js"))
    return (page.replace("/*DATA*/", _json_script(data)).replace("<!--PLOTS-->", templates)
            .replace("/*CSS*/", css).replace("/*JS*/", js))


def _selected_data(report) -> list[dict]:
    """The "selected" view (harness/selected.py): per swept method, the rule, trials, tuning cost, the
    selected setting, and the task's headline metrics on the test data (with the validation value of
    the rule's metrics); rule_choice is False where the final run is not what the rule picks now."""
    sel = getattr(report, "selected", None)
    if sel is None or sel.empty:
        return []
    out = []
    for _, r in sel.iterrows():
        spec = (report.specs.get(r["task"]) or {}).get("metrics", {})
        heads = [m for m, s in spec.items() if s.get("headline") and m in r]
        out.append({**{k: _clean(r.get(k)) for k in ("sweep", "task", "method", "rule", "validation", "n_trials",
                                                      "n_feasible", "feasible", "setting", "tuning_flops",
                                                      "tuning_s", "selection", "run_id", "status")},
                    "rule_choice": bool(r["rule_choice"]),
                    "metrics": [[m, _clean(r.get(m)), (spec.get(m) or {}).get("direction")] for m in heads],
                    "val": [[k[4:], _clean(r.get(k))] for k in r.index if k.startswith("val_")]})
    return out


def _series_plots(track, rows, details: dict, task: str, spec: dict) -> list[str]:
    """Unlearning curves and per-request plots from the run folders (harness/plots.py series_plots)."""
    series = {k: d["series"] for k, d in details.items() if d.get("series")}
    try:
        return series_plots(track, rows, series, task, spec.get("metrics") or {})
    except (ValueError, KeyError, TypeError) as e:  # a plot must never take the tables down with it
        return [f"<p class='note'>plot unavailable: {type(e).__name__}</p>"]


def _clean_tree(v, words: bool = False):
    """JSON-safe nested value; with words=True a non-finite number is written as text ('inf'), not
    dropped: a setting such as the DP form's epsilon=.inf must read as what it is."""
    if isinstance(v, dict):
        return {str(k): _clean_tree(x, words) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean_tree(x, words) for x in v]
    if words and isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return _clean(v)


__all__ = ["render"]


TRUST_COLUMNS = ("track", "task", "metric", "direction", "faithfulness", "faith_low", "faith_high", "robust_relearn",
                 "robust_quant", "robustness", "overall", "n_pos", "n_neg", "n_unlearned")


def trust_rows(results: Path) -> list[dict]:
    """The rows of <results>/meta_eval.csv (`harness meta-eval`), numbers as numbers; [] without one."""
    f = results / "meta_eval.csv"
    if not f.is_file():
        return []
    try:
        df = pd.read_csv(f)
    except (ValueError, OSError):
        return []
    return [{c: _clean(r.get(c)) for c in TRUST_COLUMNS} for _, r in df.iterrows()]


def trust_plot(rows: list[dict]) -> str:
    """Faithfulness (x, with its interval) against robustness (y), one point per metric and task."""
    from harness.plots import pyplot, svg
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    for r in rows:
        x, y = r.get("faithfulness"), r.get("robustness")
        if x is None:
            continue
        y = -0.05 if y is None else y  # no robustness number: drawn below the axis, marked hollow
        lo, hi = r.get("faith_low"), r.get("faith_high")
        err = [[x - lo], [hi - x]] if lo is not None and hi is not None else None
        ax.errorbar([x], [y], xerr=err, fmt="o", ms=4, mfc="none" if r.get("robustness") is None else None,
                    alpha=0.8, capsize=2)
        ax.annotate(f"{r['metric']} ({r['task']})", (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.axvline(0.5, color="grey", lw=0.6, ls="--")
    ax.set_xlim(-0.02, 1.05)
    ax.set_ylim(-0.1, 1.05)
    ax.set_xlabel("faithfulness (AUC between models that know and never knew; 0.5 = cannot tell)")
    ax.set_ylabel("robustness (HM of relearning and 4-bit stability)")
    return svg(fig, "trust")
