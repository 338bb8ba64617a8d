"""The leaderboard's "selected" view: each swept method at the setting its sweep's rule picked, rebuilt from
the run folders alone.

A sweep's runs carry the config key `sweep` (harness/sweep.py): trials and reference rows on the
validation data, and one final run per method on the test data, which records the rule, its trials' and
references' run ids. From those folders this module applies the rule again (harness/selection.py), checks
that the final run is the selected trial's setting (column rule_choice: False when a trial was lost or
rerun since, and the final run is not what the rule picks now), and reports per method: the rule, the number of
trials, how many met the constraints, what the selection cost (the trials' and references' FLOPs and
seconds, unlearning and evaluation), the selected setting, its validation numbers and the final run's
test numbers. Sweep runs stay out of the main table (a trial on the validation world is not a result).
"""
from __future__ import annotations

import json

import pandas as pd

from harness.selection import rule_from_dict, select

IGNORED = ("task", "world", "dataset", "sweep", "results_dir", "seed")  # what differs between validation and test


def split(runs: pd.DataFrame, details: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows of no sweep, rows of a sweep) with `sweep` and `sweep_role` columns on the second."""
    if runs.empty:
        return runs, runs
    tag = runs["run_id"].map(lambda i: (details[i]["config"].get("sweep") or {}))
    mask = tag.map(lambda t: bool(t.get("name")))
    sweep = runs[mask].copy()
    sweep["sweep"] = tag[mask].map(lambda t: t["name"])
    sweep["sweep_role"] = tag[mask].map(lambda t: t.get("role", ""))
    return runs[~mask].reset_index(drop=True), sweep.reset_index(drop=True)


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v
    return out


def _setting_key(cfg: dict, also: tuple = ()) -> dict:
    """The config's setting: every key but those that differ between validation and test (IGNORED, and
    `also`: the keys the sweep's validation overrides set, e.g. model.target)."""
    return {k: v for k, v in _flat(cfg).items()
            if k.split(".")[0] not in IGNORED and not any(k == a or k.startswith(a + ".") for a in also)}


def _metrics(row: pd.Series | None, names) -> dict | None:
    if row is None or row.get("status") != "complete":
        return None
    return {m: row.get(m) for m in names if m in row and pd.notna(row.get(m))}


def view(sweep: pd.DataFrame, details: dict, specs: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the selected table: one row per final run, the trials table: every trial and reference row with
    its sweep, setting and whether it was selected)."""
    if sweep.empty:
        return pd.DataFrame(), pd.DataFrame()
    by_id = {r["run_id"]: r for _, r in sweep.iterrows()}
    selected_ids, rows = set(), []
    for _, fin in sweep[sweep["sweep_role"] == "final"].iterrows():
        cfg = details[fin["run_id"]]["config"]
        tag = cfg["sweep"]
        rule = rule_from_dict(tag["rule"])
        names = set(rule.metrics) | {c.metric for c in rule.constraints}
        trials = [by_id.get(i) for i in tag.get("trials", [])]
        refs = {role: _metrics(by_id.get(i), names) or {} for role, i in (tag.get("references") or {}).items()}
        sel = select(rule, [_metrics(t, names) for t in trials], refs)
        chosen = trials[sel.index] if sel.index is not None else None
        also = tuple(v.split("=", 1)[0] for v in tag.get("validation") or [] if "=" in v)
        matches = chosen is not None and \
            _setting_key(details[chosen["run_id"]]["config"], also) == _setting_key(cfg, also)
        ref_rows = [by_id[i] for i in (tag.get("references") or {}).values() if i in by_id]
        spent = [t for t in trials if t is not None] + ref_rows
        varying = _varying([details[t["run_id"]]["config"] for t in trials if t is not None])
        flat = _flat(cfg)
        row = {"sweep": tag["name"], "task": fin["task"], "method": fin["method"], "model": fin.get("model"),
               "rule": rule.text(),
               "validation": ", ".join(tag.get("validation") or []),
               "n_trials": len(trials), "n_missing": sum(t is None for t in trials), "n_feasible": sel.n_feasible,
               "feasible": sel.feasible, "rule_choice": bool(matches), "selection": sel.why if matches else
               f"the final run is not the rule's choice ({sel.why}): run the sweep again",
               "setting": ", ".join(f"{k}={flat.get(k)}" for k in varying) or "defaults",
               "tuning_flops": float(sum((t.get("flops") or 0) for t in spent)),
               "tuning_s": float(sum((t.get("unlearn_s") or 0) + (t.get("eval_s") or 0) for t in spent)),
               "selected_trial": chosen["run_id"] if chosen is not None else None}
        if chosen is not None:
            selected_ids.add(chosen["run_id"])
            row.update({f"val_{m}": chosen.get(m) for m in rule.metrics})
        metric_cols = list((specs.get(fin["task"]) or {}).get("metrics", {}))
        row.update({m: fin.get(m) for m in metric_cols if m in fin})
        # what the attacks did to the final run (harness/leaderboard.py attack_columns)
        row.update({c: fin.get(c) for c in fin.index if c == "robustness" or c.endswith(("_recovery", "_removed"))})
        row.update({"unlearn_flops": fin.get("unlearn_flops"), "status": fin["status"], "run_id": fin["run_id"]})
        rows.append(row)
    trials = sweep[sweep["sweep_role"] != "final"].copy()
    trials["selected"] = trials["run_id"].isin(selected_ids)
    for name, group in trials.groupby(["sweep", "method"]):
        varying = _varying([details[i]["config"] for i in group["run_id"]])
        for i in group.index:
            flat = _flat(details[trials.at[i, "run_id"]]["config"])
            trials.at[i, "setting"] = ", ".join(f"{k}={flat.get(k)}" for k in varying) or "defaults"
    lead = ["sweep", "sweep_role", "task", "method", "setting", "selected", "status"]
    trials = trials[lead + [c for c in trials.columns if c not in lead]]
    return pd.DataFrame(rows), trials.reset_index(drop=True)


def _varying(cfgs: list[dict]) -> list[str]:
    """The config keys whose values differ among a method's trials: its swept axes."""
    flats = [_setting_key(c) for c in cfgs]
    keys = sorted({k for f in flats for k in f})
    return [k for k in keys if len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flats}) > 1]
