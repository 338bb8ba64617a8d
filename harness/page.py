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
import html
import json
import math

import pandas as pd

from harness.plots import plots_for, series_plots, sisa_plot
from harness.leaderboard import parse_attack_column
from harness.tracks import load_tracks

INTEGER = {"ks_n", "n_seeds", "epochs", "n_diverged", "steps", "tokens_forward", "tokens_backward", "trainable_params",
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
            labels[i] = f"{method} ({', '.join(diff) or r['setting']})"
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
    return {"name": task, "family": spec.get("family", "tofu"), "columns": cols, "rows": out_rows}


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
    if not table.empty:
        for task, rows in table.groupby("task", sort=True):
            spec = specs.get(task, {"family": "tofu", "metrics": {}})
            tasks.append(_task_data(task, rows, spec))
            chance = {m: s.get("chance") for m, s in (spec.get("metrics") or {}).items()}
            track = load_tracks().get(spec.get("family", "tofu"))
            plots[task] = (plots_for(track, rows, task, chance) + _series_plots(track, rows, report.details, task, spec)
                           + sisa_plot(rows, task))
    # the curves and per-request numbers are drawn, not shipped in the page's data
    details = {k: {kk: _clean_tree(vv, words=True) for kk, vv in v.items() if kk != "series"}
               for k, v in report.details.items()}
    data = {"built": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "n_runs": len(report.details), "broken": [[str(a), str(b)] for a, b in report.broken],
            "families": {name: t.title for name, t in load_tracks().items()}, "tasks": tasks, "details": details,
            "family_order": _family_order(tasks), "selected": _selected_data(report),
            "runs_folder": f"{getattr(report, 'folder', 'results')}/runs/"}
    # Plot SVGs are produced by matplotlib, which escapes every text it draws; each goes into a
    # <template> keyed by position, so no run-folder string is ever spliced into HTML here.
    templates = "".join(f"<template id='plots-{i}'>{''.join(plots[t['name']])}</template>"
                        for i, t in enumerate(tasks))
    return (PAGE.replace("/*DATA*/", _json_script(data)).replace("<!--PLOTS-->", templates)
            .replace("/*CSS*/", CSS).replace("/*JS*/", JS))


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


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Unlearning leaderboard</title><style>/*CSS*/</style></head>
<body>
<header><h1>Unlearning leaderboard</h1><p id="meta"></p>
<p class="legend">Arrows give each column's declared direction: <b>&uarr;</b> higher is better,
<b>&darr;</b> lower is better, <b>&rarr;0</b> closest to zero, <b>&asymp;R</b> closest to the retain model
(a model that never saw the forget data). The best value of a column is
<span class="best-demo">marked</span> among the rows that compete: those that forgot beyond noise (the
start model's value of the track's forget metric lies outside the row's 95% interval) and kept at least
80% of the start model's utility; the others are shown with a grey tag saying which test they failed
(hover it). Reference models (target, retain, base) are pinned on top.
Values are the mean (p-values: the median) &plusmn; std over the seeds that completed; hover a cell for
its 95% interval over items (single-seed rows: a bootstrap interval; for ks_stat a distribution-free
DKW interval) or the per-seed spread. forget_quality is a KS p-value: read it with ks_stat and ks_n.
Click a column to sort (best first), a method to see its run.</p>
<nav id="nav"></nav><div id="broken"></div></header>
<main id="main"></main>
<dialog id="detail"><form method="dialog"><button class="close" aria-label="close">&times;</button></form>
<h2 id="detail-title"></h2><div id="detail-body"></div></dialog>
<!--PLOTS-->
<script type="application/json" id="data">/*DATA*/</script>
<script>/*JS*/</script>
</body></html>
"""

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{padding:18px 28px 6px;background:#fff;border-bottom:1px solid #e3e3e3}
h1{margin:0 0 4px;font-size:22px} h2{font-size:18px;margin:28px 0 8px} h3{font-size:16px;margin:22px 0 6px}
main{padding:0 28px 40px} .legend{color:#555;max-width:1100px;font-size:13px} #meta{color:#666;margin:0}
nav a{margin-right:14px;font-size:13px} .best-demo{background:#dff3e3;font-weight:600;padding:0 3px}
.plots{display:flex;flex-wrap:wrap;gap:10px;margin:6px 0} .plots svg{max-width:560px;height:auto;background:#fff;border:1px solid #eee}
.wrap{overflow-x:auto;max-width:100%;border:1px solid #ddd;background:#fff}
table{border-collapse:separate;border-spacing:0;font-variant-numeric:tabular-nums;font-size:13px}
th,td{padding:4px 9px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th{background:#f3f3f5;position:sticky;top:0;cursor:pointer;user-select:none;font-weight:600}
th .dir{color:#777;font-weight:400;margin-left:3px} th.sorted-asc::after{content:" \\25B2"} th.sorted-desc::after{content:" \\25BC"}
td:first-child,th:first-child{position:sticky;left:0;text-align:left;background:#fff;z-index:1;border-right:1px solid #ddd}
th:first-child{background:#f3f3f5;z-index:2}
tr.ref td{background:#f4f6fb} tr.ref td:first-child{background:#eaeef8;font-weight:600}
tr.diverged td{color:#999} tr.diverged td.status{color:#b3261e;font-weight:600}
td.best{background:#dff3e3;font-weight:600} .std{color:#888;font-size:11px;margin-left:2px}
.extra{display:none} table.all .extra{display:table-cell}
button.rowlink{all:unset;cursor:pointer;color:#0b57d0} button.rowlink:hover{text-decoration:underline}
button.toggle{margin:6px 0;font-size:12px}
tr.off-rule td:not(:first-child){color:#999}
.badge.muted{background:#eee;color:#666} .badge.warn{background:#fff3d6;color:#8a5a00}
.note{color:#666;font-size:12px} .badge{margin-left:6px;padding:0 5px;border-radius:8px;background:#fbe3e1;color:#b3261e;font-size:11px} .badge.form{background:#e3effb;color:#1a4f8b} #broken p{color:#b3261e}
dialog{max-width:900px;width:90vw;border:1px solid #ccc;border-radius:8px;padding:18px 22px}
dialog pre{background:#f6f6f6;padding:8px;overflow:auto;max-height:320px;font-size:12px}
dialog .close{float:right;font-size:20px;border:none;background:none;cursor:pointer}
dialog table td{text-align:left}
"""

JS = r"""
(function () {
  const data = JSON.parse(document.getElementById('data').textContent);
  const el = (tag, props, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  };
  const ARROW = {higher: '\u2191', lower: '\u2193', zero: '\u21920', retain: '\u2248R'};
  function fmt(v, integer) {
    if (v === null || v === undefined || Number.isNaN(v)) return '';
    if (typeof v !== 'number') return String(v);
    if (integer && Number.isInteger(v)) return v.toLocaleString('en-US');
    const a = Math.abs(v);
    if (v === 0) return '0';
    if (a >= 1e4 || a < 1e-3) return v.toExponential(1).replace('e+', 'e');
    return v.toPrecision(3);
  }
  function score(col, row) {  // larger is better; null when not comparable
    const v = row.values[col.key];
    if (typeof v !== 'number') return null;
    switch (col.direction) {
      case 'higher': return v;
      case 'lower': return -v;
      case 'zero': return -Math.abs(v);
      case 'retain': { const r = row.refs[col.reference]; return typeof r === 'number' ? -Math.abs(v - r) : null; }
      default: return null;
    }
  }
  function cellTitle(col, row) {
    const parts = [col.key + (col.description ? ': ' + col.description : '')];
    const ci = row.ci[col.key];
    if (ci) parts.push((col.key === 'ks_stat' ? '95% distribution-free (DKW) interval: ['
                        : '95% bootstrap interval over items: [') + fmt(ci[0]) + ', ' + fmt(ci[1]) + ']');
    const s = row.std[col.key];
    if (typeof s === 'number') parts.push('std over ' + row.n_seeds + ' seeds: ' + fmt(s));
    if (col.direction === 'retain' && typeof row.refs[col.reference] === 'number')
      parts.push('retain model: ' + fmt(row.refs[col.reference]));
    return parts.join('\n');
  }
  function renderTable(task, holder) {
    const cols = task.columns;
    const table = el('table', {'data-task': task.name});
    const head = el('tr');
    head.append(el('th', {'data-key': 'label', title: 'method (+adapter); reference models are pinned'}, 'method'));
    cols.forEach(c => {
      const th = el('th', {'data-key': c.key, title: c.key + (c.description ? ': ' + c.description : '')}, c.key);
      if (c.direction) th.append(el('span', {class: 'dir', text: ARROW[c.direction] || ''}));
      if (!c.headline) th.classList.add('extra');
      head.append(th);
    });
    head.append(el('th', {'data-key': 'status', class: 'extra-status'}, 'status'));
    table.append(el('thead', {}, head));
    const body = el('tbody');
    table.append(body);
    const best = {};
    cols.forEach(c => {  // marked only where some method does worse: a column of ties marks nothing
      // competing rows only: those that forgot beyond noise and kept utility (harness/eligibility.py)
      const scores = task.rows.filter(r => !r.reference && r.n_seeds > 0 && r.eligible === true)
        .map(r => score(c, r)).filter(s => s !== null);
      if (scores.length > 1 && Math.max(...scores) > Math.min(...scores)) best[c.key] = Math.max(...scores);
    });
    let sortKey = null, sortDir = -1;
    function draw() {
      body.textContent = '';
      const refs = task.rows.filter(r => r.reference);
      let others = task.rows.filter(r => !r.reference);
      if (sortKey) {
        // a column with a declared direction sorts by how good a value is (privleak by its distance to 0,
        // an MIA AUC by its distance to the retain model's), best first on the first click
        const col = cols.find(c => c.key === sortKey);
        const val = r => sortKey === 'label' || sortKey === 'status' ? r[sortKey]
          : (col && col.direction ? score(col, r) : r.values[sortKey]);
        others = others.slice().sort((a, b) => {
          const x = val(a), y = val(b);
          if (x === null || x === undefined) return 1;
          if (y === null || y === undefined) return -1;
          return (typeof x === 'number' ? x - y : String(x).localeCompare(String(y))) * sortDir;
        });
      }
      for (const r of refs.concat(others)) {
        const tr = el('tr', {class: (r.reference ? 'ref ' : '') + (r.n_seeds === 0 ? 'diverged' : '')});
        const link = el('button', {class: 'rowlink', type: 'button', text: r.label});
        link.addEventListener('click', () => openDetail(task, r));
        const name = el('td', {}, link);
        if (r.form && r.form !== 'approximate' && r.form !== 'reference')  // another form of unlearning
          name.append(el('span', {class: 'badge form', text: r.form, title: r.note || r.form}));
        if (r.note) name.append(el('div', {class: 'note', text: r.note}));
        if (r.status !== 'complete')  // diverged (or partly): visible without scrolling
          name.append(el('span', {class: 'badge', text: r.status, title: r.error ? 'error: ' + r.error : r.status}));
        if (!r.reference && r.eligible === false)  // shown, but not marked best (the rule in the legend)
          name.append(el('span', {class: 'badge muted', text: r.eligible_tag, title: r.eligible_why || ''}));
        if (r.warnings) name.append(el('span', {class: 'badge warn', text: 'warning', title: r.warnings}));
        if (r.flags) name.append(el('span', {class: 'badge', text: 'bad values', title: r.flags}));
        tr.append(name);
        cols.forEach(c => {
          const td = el('td', {title: cellTitle(c, r)});
          td.append(fmt(r.values[c.key], c.integer));
          const s = r.std[c.key];
          if (typeof s === 'number') td.append(el('span', {class: 'std', text: '\u00b1' + fmt(s)}));
          if (!c.headline) td.classList.add('extra');
          if (!r.reference && r.eligible === true && best[c.key] !== undefined && score(c, r) === best[c.key])
            td.classList.add('best');
          tr.append(td);
        });
        const st = el('td', {class: 'status', text: r.n_diverged && r.n_seeds ? r.status : r.status,
                            title: r.error ? 'error: ' + r.error : r.status});
        tr.append(st);
        body.append(tr);
      }
      table.querySelectorAll('th').forEach(th => {
        th.classList.remove('sorted-asc', 'sorted-desc');
        if (th.dataset.key === sortKey) th.classList.add(sortDir > 0 ? 'sorted-asc' : 'sorted-desc');
      });
    }
    head.querySelectorAll('th').forEach(th => th.addEventListener('click', () => {
      const k = th.dataset.key;
      sortDir = sortKey === k ? -sortDir : (k === 'label' || k === 'status' ? 1 : -1);
      sortKey = k;
      draw();
    }));
    draw();
    const extra = cols.filter(c => !c.headline).length;
    const toggle = el('button', {class: 'toggle', type: 'button', text: 'show all ' + (cols.length + 2) + ' columns'});
    toggle.addEventListener('click', () => {
      table.classList.toggle('all');
      toggle.textContent = table.classList.contains('all') ? 'headline columns only' : 'show all ' + (cols.length + 2) + ' columns';
    });
    if (extra) holder.append(toggle);
    holder.append(el('div', {class: 'wrap'}, table));
  }
  function pre(obj) { return el('pre', {text: JSON.stringify(obj, null, 2)}); }
  function openDetail(task, r) {
    const dlg = document.getElementById('detail');
    document.getElementById('detail-title').textContent = r.label + ' \u2014 ' + task.name;
    const body = document.getElementById('detail-body');
    body.textContent = '';
    const settings = el('table');
    const add = (k, v) => settings.append(el('tr', {}, el('td', {text: k}), el('td', {text: v})));
    add('status', r.status + (r.error ? ' (' + r.error + ')' : ''));
    add('seeds', r.seeds + ' (' + r.n_seeds + ' complete' + (r.n_diverged ? ', ' + r.n_diverged + ' diverged' : '') + ')');
    add('learning rate', fmt(r.lr)); add('epochs', r.epochs === null ? '' : String(r.epochs));
    add('adapter', r.adapter); add('method arguments', JSON.stringify(r.method_args));
    if (r.form) add('form', r.form + (r.note ? ' (' + r.note + ')' : ''));
    body.append(settings);
    for (const id of r.run_ids) {
      const d = data.details[id] || {};
      body.append(el('h3', {text: 'run ' + id}));
      if (d.warnings && d.warnings.length) body.append(el('p', {class: 'note', text: 'warnings: ' + d.warnings.join('; ')}));
      if (d.attacks) {  // recovery under each attack, what was removed, and why a recovery is empty
        body.append(el('h4', {text: 'attacks' + (d.attacks.robustness_note ? ' (robustness empty: '
                                                 + d.attacks.robustness_note + ')' : '')}));
        const t = el('table');
        t.append(el('tr', {}, ...['attack', 'label', 'recovery', 'removed', 'SE', 'items', 'note']
          .map(h => el('th', {text: h}))));
        for (const [folder, a] of Object.entries(d.attacks.attacks || {}))
          for (const [label, v] of Object.entries(a.labels || {}))
            t.append(el('tr', {}, ...[folder, label, fmt(v.recovery), fmt(v.removed), fmt(v.removed_se),
                                     v.removed_n === null || v.removed_n === undefined ? '' : String(v.removed_n),
                                     v.recovery_note || ''].map(x => el('td', {text: x}))));
        body.append(t);
      }
      body.append(el('h4', {text: 'compute record'}), pre(d.compute));
      body.append(el('h4', {text: 'config'}), pre(d.config));
      body.append(el('h4', {text: 'provenance'}), pre(d.provenance));
    }
    dlg.showModal();
  }
  const meta = document.getElementById('meta');
  meta.textContent = 'Built ' + data.built + ' from ' + data.n_runs + ' run folders in ' + data.runs_folder + '.';
  if (data.broken.length) {
    const b = document.getElementById('broken');
    b.append(el('p', {text: data.broken.length + ' run folder(s) could not be read and are not shown:'}));
    const ul = el('ul');
    data.broken.forEach(([f, why]) => ul.append(el('li', {text: f + ': ' + why})));
    b.append(ul);
  }
  const main = document.getElementById('main');
  const nav = document.getElementById('nav');
  if (!data.tasks.length && !data.selected.length) main.append(el('p', {text: 'No complete runs yet.'}));
  const families = data.family_order;
  families.forEach(fam => {
    const sec = el('section', {id: 'family-' + fam});
    sec.append(el('h2', {text: data.families[fam] || fam}));
    data.tasks.forEach((t, i) => {
      if (t.family !== fam) return;
      const id = 'task-' + i;
      const a = el('a', {href: '#' + id, text: t.name});
      nav.append(a);
      const div = el('div', {id: id});
      div.append(el('h3', {text: t.name}));
      const tpl = document.getElementById('plots-' + i);
      if (tpl) div.append(el('div', {class: 'plots'}, tpl.content.cloneNode(true)));
      renderTable(t, div);
      sec.append(div);
    });
    main.append(sec);
  });
  if (data.selected.length) {  // each swept method at the setting its sweep's rule picked
    const sec = el('section', {id: 'selected'});
    sec.append(el('h2', {text: 'Selected by sweep: tuned on validation data, reported on the test task'}));
    nav.append(el('a', {href: '#selected', text: 'selected (sweeps)'}));
    const groups = {};
    data.selected.forEach(r => {
      const key = r.sweep + ' — ' + r.task;
      (groups[key] = groups[key] || []).push(r);
    });
    for (const [name, rows] of Object.entries(groups)) {
      sec.append(el('h3', {text: 'sweep ' + name}));
      sec.append(el('p', {class: 'note',
                          text: 'rule: ' + rows[0].rule + '; validation data: ' + (rows[0].validation || '?')}));
      const table = el('table', {class: 'selected', 'data-sweep': rows[0].sweep});
      const metrics = rows[0].metrics.map(m => m[0]);
      const head = el('tr');
      ['method', 'setting', 'trials', 'meet the rule'].concat(rows[0].val.map(v => 'validation ' + v[0]), metrics,
        ['tuning FLOPs', 'tuning s']).forEach(h => head.append(el('th', {text: h})));
      table.append(el('thead', {}, head));
      const body = el('tbody');
      rows.forEach(r => {
        const tr = el('tr', r.rule_choice ? {} : {class: 'off-rule'});
        const name = el('td', {text: r.method});
        if (!r.feasible) name.append(el('span', {class: 'badge', text: 'infeasible', title: r.selection}));
        if (!r.rule_choice)  // a trial lost or rerun since: these numbers are not the rule's pick
          name.append(el('span', {class: 'badge off-rule', text: "not the rule's choice", title: r.selection}));
        tr.append(name, el('td', {text: r.setting, title: r.selection}), el('td', {text: String(r.n_trials)}),
                  el('td', {text: String(r.n_feasible)}));
        r.val.forEach(v => tr.append(el('td', {text: fmt(v[1])})));
        r.metrics.forEach(m => tr.append(el('td', {text: fmt(m[1]),
                                                   title: m[0] + (ARROW[m[2]] ? ' ' + ARROW[m[2]] : '')})));
        tr.append(el('td', {text: fmt(r.tuning_flops)}), el('td', {text: fmt(r.tuning_s)}));
        body.append(tr);
      });
      table.append(body);
      sec.append(el('div', {class: 'wrap'}, table));
    }
    main.append(sec);
  }
})();
"""

__all__ = ["render", "html"]
