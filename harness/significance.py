"""A replicated study's statistics, from its run folders alone (docs/statistics.md):

    results/significance_ranks.csv   per (task, headline metric or the summary score, method): its mean
                                     over world and run seeds with a 95% interval (Student's t over the
                                     world means), its mean rank over bootstrap resamples, a simultaneous
                                     95% rank interval (from the Holm-significant pairs), and the world
                                     seed's share of its variance
    results/significance_pairs.csv   per (task, metric, pair of methods): the paired advantage of A over
                                     B (world-level differences), its interval, P(A better), and whether
                                     it holds after Holm's correction over the task's pairs for that metric

Only method rows are compared (a model evaluated as is, the target or retain row, is a reference, not a
contestant). The rows are the leaderboard's per-run rows (harness/leaderboard.py collect: each run's
metrics.json, its config.yaml's world.seed and seed, its task.yaml's directions and headline flags),
so a study is recomputed from its folders alone (the bootstrap's seed: harness/replication.py
BOOTSTRAP_SEED). The page's "How sure is this?" part is drawn here too; the command that writes the
CSV files for a study grid is harness/study_cmd.py.
"""
from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np

from harness import replication as R

RANK_COLUMNS = ["track", "task", "metric", "method", "n", "n_worlds", "mean", "ci_low", "ci_high", "rank_mean",
                "rank_low", "rank_high", "world_var", "run_var", "world_share"]
PAIR_COLUMNS = ["track", "task", "metric", "method_a", "method_b", "n_pairs", "n_worlds", "mean_diff", "ci_low",
                "ci_high", "p_a_better", "p_value", "p_holm", "significant"]


def study(runs: list[dict], n: int = R.N_BOOTSTRAP, seed: int = R.BOOTSTRAP_SEED) -> tuple[list[dict], list[dict]]:
    """(rank rows, pair rows) over every task and headline metric of `runs`."""
    ranks, pairs = [], []
    for task in sorted({r["task"] for r in runs}):
        mine = [r for r in runs if r["task"] == task]
        specs, family = mine[0]["specs"], mine[0]["family"]
        per_metric = {}
        for metric, spec in specs.items():
            if not spec.get("headline"):
                continue
            raw, good = R.tables(mine, metric, spec)
            if len(raw) < 1:
                continue
            rows, per_metric[metric] = _ranks(family, task, metric, raw, good, n, seed)
            mine_pairs = _pairs(family, task, metric, good)
            _with_rank_intervals(rows, mine_pairs, metric)
            ranks += rows
            pairs += mine_pairs
        rows, summary_pairs = _summary(family, task, per_metric)
        ranks += rows
        pairs += summary_pairs
    return ranks, pairs


SUMMARY = "summary_mean_rank"  # the track's summary score: a method's mean rank over the headline metrics


def _summary(family, task, per_metric: dict) -> tuple[list[dict], list[dict]]:
    """The summary score's rank rows and pairs. In each world, every method is ranked on each headline
    metric by its mean goodness over that world's runs (1 = best); its summary is the mean of those
    ranks (lower is better). World summaries are the observations of the same t-based intervals and
    paired tests as a metric's; `rank_mean` is the mean over the bootstrap draws of the rank of the
    per-draw mean rank (descriptive, as for a metric)."""
    if len(per_metric) < 2:
        return [], []
    methods = sorted(set.intersection(*(set(ms) for ms, _, _ in per_metric.values())))
    if len(methods) < 2:
        return [], []
    worlds = sorted(set.intersection(*(set(cg.worlds) for _, _, cg in per_metric.values())))
    per_world = []                                     # [metric][world, method]: the method's rank there
    for ms, _, cg in per_metric.values():
        with R.quiet():
            wm = np.nanmean(cg.values, axis=-1)        # [method, world]
        sub = np.stack([wm[ms.index(m), [cg.worlds.index(w) for w in worlds]] for m in methods], axis=1)
        per_world.append(R.ranks(np.nan_to_num(sub, nan=-np.inf)))
    summ = np.mean(per_world, axis=0)                  # [world, method]
    draws = np.mean([np.stack([rk[:, ms.index(m)] for m in methods], axis=1) for ms, rk, _ in per_metric.values()],
                    axis=0)
    rk = R.ranks(-draws)                               # per draw: a lower mean rank is better
    pairs = []
    for a, b in itertools.combinations(range(len(methods)), 2):
        if summ[:, b].mean() < summ[:, a].mean():
            a, b = b, a
        d = summ[:, b] - summ[:, a]                    # A's advantage: how many ranks lower A sits
        lo, hi = R.t_interval(d)
        p_value, p_better = R.paired_t(d)
        pairs.append({"track": family, "task": task, "metric": SUMMARY, "method_a": methods[a],
                      "method_b": methods[b], "n_pairs": len(worlds), "n_worlds": len(worlds),
                      "mean_diff": float(d.mean()), "ci_low": lo, "ci_high": hi, "p_a_better": p_better,
                      "p_value": p_value})
    for p, q in zip(pairs, R.holm([p["p_value"] for p in pairs])):
        p["p_holm"], p["significant"] = q, bool(q < R.ALPHA)
    rows = []
    for i, m in enumerate(methods):
        lo, hi = R.t_interval(summ[:, i])
        rows.append({"track": family, "task": task, "metric": SUMMARY, "method": m, "n": None,
                     "n_worlds": len(worlds), "mean": float(summ[:, i].mean()), "ci_low": lo, "ci_high": hi,
                     "rank_mean": float(rk[:, i].mean()), "world_var": None, "run_var": None, "world_share": None})
    _with_rank_intervals(rows, pairs, SUMMARY)
    return rows, pairs


def _ranks(family, task, metric, raw: dict, good: dict, n: int, seed: int) -> list[dict]:
    cr, cg = R.Cells.of(raw), R.Cells.of(good)
    est, d_good = R.estimate(cr.values), R.draws(cg, n, seed)
    rk = R.ranks(np.nan_to_num(d_good, nan=-np.inf))   # a method absent from a draw ranks last in it
    out = []
    for i, m in enumerate(cr.methods):
        lo, hi = R.t_interval(R.world_means(cr.values[i]))
        wv, rv, share = R.variance_share(cr.values[i])
        n_cells = int(np.sum(~np.isnan(cr.values[i])))
        n_worlds = int(np.sum(~np.all(np.isnan(cr.values[i]), axis=1)))
        out.append({"track": family, "task": task, "metric": metric, "method": m, "n": n_cells, "n_worlds": n_worlds,
                    "mean": float(est[i]), "ci_low": lo, "ci_high": hi, "rank_mean": float(rk[:, i].mean()),
                    "world_var": wv, "run_var": rv, "world_share": share})
    return out, (cr.methods, rk, cg)


def _pairs(family, task, metric, good: dict) -> list[dict]:
    """Every pair of methods, paired by the (world, run) cells both have; each world's mean difference
    is one observation (the world is the unit: harness/replication.py). A is the one with the higher
    estimated goodness, so p_a_better >= 0.5 reads as "how sure that A is better"."""
    est = {m: R.estimate(R.Cells.of({m: cells}).values)[0] for m, cells in good.items()}
    out = []
    for a, b in itertools.combinations(sorted(good), 2):
        if est[b] > est[a]:
            a, b = b, a
        shared = sorted(set(good[a]) & set(good[b]))
        if not shared:
            continue
        diff = R.Cells.of({"d": {c: good[a][c] - good[b][c] for c in shared}})
        d = R.world_means(diff.values[0])
        lo, hi = R.t_interval(d)
        p_value, p_better = R.paired_t(d)
        out.append({"track": family, "task": task, "metric": metric, "method_a": a, "method_b": b,
                    "n_pairs": len(shared), "n_worlds": len(d), "mean_diff": float(d.mean()), "ci_low": lo,
                    "ci_high": hi, "p_a_better": p_better, "p_value": p_value})
    adjusted = R.holm([p["p_value"] for p in out])
    for p, q in zip(out, adjusted):
        p["p_holm"], p["significant"] = q, bool(q < R.ALPHA)
    return out


def _with_rank_intervals(rows: list[dict], pairs: list[dict], metric: str) -> None:
    """rank_low / rank_high of each method row of `metric` from the metric's Holm-significant pairs."""
    methods = [r["method"] for r in rows]
    better = {(p["method_a"], p["method_b"]) for p in pairs if p["metric"] == metric and p["significant"]}
    for r, (lo, hi) in zip(rows, (R.rank_intervals(methods, better)[m] for m in methods)):
        r["rank_low"], r["rank_high"] = float(lo), float(hi)


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    from harness.io import write_text_atomic
    import io
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    write_text_atomic(path, buf.getvalue())


def records(runs_df, specs: dict) -> dict:
    """{task: per-run records} from the leaderboard's per-run rows: the complete method rows, each
    labelled by its method, told apart by its setting's hash (`replicate`: the setting across world and
    run seeds) where several settings share a label."""
    out = {}
    if runs_df is None or runs_df.empty or "replicate" not in runs_df:
        return out
    done = runs_df[(runs_df["status"] == "complete") & (~runs_df["reference_row"].astype(bool))]
    for task, rows in done.groupby("task", sort=True):
        spec = specs.get(task) or {}
        declared = spec.get("metrics") or {}
        labels = rows.groupby("method")["replicate"].nunique()
        out[task] = [{"task": task, "family": spec.get("family", ""), "run_id": r["run_id"],
                      "method": r["method"] if labels[r["method"]] == 1 else f"{r['method']} [{r['replicate']}]",
                      "world": int(r["world_seed"]), "run": int(r["seed"]), "specs": declared,
                      "metrics": {c: r.get(c) for c in r.index if c in declared or str(c).startswith("retain_model_")}}
                     for _, r in rows.iterrows()]
    return out


def worlds_of(recs: list[dict]) -> int:
    """The most world seeds any one method of a task has."""
    return max(len({x["world"] for x in recs if x["method"] == m}) for m in {x["method"] for x in recs})


def task_study(recs: list[dict], designs=()) -> dict:
    """One task's study: {"worlds", "ranks", "pairs", "retain_auc", "resolves", "power"}. `resolves`:
    (metric, the smallest difference a typical pair shows at the study's own replication); `power`:
    harness/power.py's rows for `designs`. Below 2 worlds only `worlds` is filled: no ranking."""
    from harness import power as P
    worlds = worlds_of(recs)
    out = {"worlds": worlds, "ranks": [], "pairs": [], "retain_auc": None, "resolves": [], "power": []}
    if worlds < 2:
        return out
    runs = max(len({r["run"] for r in recs if r["world"] == w}) for w in {r["world"] for r in recs})
    ranks, pairs = study(recs)
    power = P.table({recs[0]["task"]: recs}, designs)
    out.update(ranks=ranks, pairs=pairs, retain_auc=retain_auc(recs), power=power,
               resolves=[(row["metric"], P.mdd(row["world_var"], row["run_var"], worlds, runs, row["pairs"]))
                         for row in power])
    return out


def from_runs(runs_df, specs: dict) -> dict:
    """{task: task_study(...)} from the leaderboard's per-run rows (a pure function of results/runs/)."""
    return {task: task_study(recs) for task, recs in records(runs_df, specs).items()}


RETAIN_AUC = "retain_model_mia_auc_min_k"


def retain_auc(recs: list[dict]) -> dict | None:
    """The retain model's own Min-K% membership AUC over the world seeds (one retain model per world,
    the same value in every run of that world): its mean over worlds and a 95% interval over
    worlds. A model that never saw the forget items should sit near 0.5; a split whose retain model
    does not makes privleak's ratio explode (docs/metrics.md). The interval is Student's t over the
    worlds. None without the column."""
    per_world: dict = {}
    for r in recs:
        v = r["metrics"].get(RETAIN_AUC)
        if isinstance(v, (int, float)) and np.isfinite(v):
            per_world.setdefault(r["world"], v)
    if not per_world:
        return None
    worlds = sorted(per_world)
    v = np.array([per_world[w] for w in worlds])
    lo, hi = R.t_interval(v)
    return {"n_worlds": len(v), "mean": float(v.mean()), "ci_low": lo, "ci_high": hi,
            "per_world": {int(w): float(per_world[w]) for w in worlds}}


def tied_with_leader(ranks: list[dict]) -> dict:
    """{metric: [methods]}: per metric, the methods other than the leader (the best mean rank) whose
    95% rank interval overlaps the leader's. They are within noise of it: the page gives them its mark."""
    out = {}
    for metric in dict.fromkeys(r["metric"] for r in ranks):
        rows = [r for r in ranks if r["metric"] == metric]
        lead = min(rows, key=lambda r: r["rank_mean"])
        out[metric] = [r["method"] for r in rows if r is not lead and r["rank_low"] <= lead["rank_high"]]
    return out


NO_RANKING = ("<p class='note'><b>How sure is this?</b> Every row here comes from one world seed: one draw of the "
              "synthetic world and of its target and retain models. Differences between methods are not tested, and "
              "no ranking is claimed (replicate over world seeds: docs/statistics.md).</p>")


def page_plots(task: str, sure: dict | None) -> list[str]:
    """The task's "How sure is this?" part (`sure`: from_runs' entry for the task): what the replication
    resolves (`resolves`: (metric, the smallest difference a typical pair shows with 80% power after
    Holm), harness/power.py) and the retain model's AUC over worlds, then per headline metric the
    methods' 95% rank intervals (sorted by mean rank) and the pairwise matrix of P(row beats column),
    significant pairs starred."""
    from harness import plots as P
    sure = sure or {}
    ranks, pairs, worlds = sure.get("ranks") or [], sure.get("pairs") or [], sure.get("worlds") or 1
    resolves, auc = sure.get("resolves") or [], sure.get("retain_auc")
    if worlds < 2 or not ranks:
        return [NO_RANKING]
    plt = P.pyplot()
    metrics = list(dict.fromkeys(r["metric"] for r in ranks))
    finest = "; ".join(f"{m} {d:.3g}" for m, d in resolves if np.isfinite(d))
    out = [f"<p class='note'><b>How sure is this?</b> {worlds} world seeds; 95% intervals from a hierarchical "
           f"bootstrap; * marks a pair that differs after Holm's correction (docs/statistics.md)."
           + (f" The smallest difference a typical pair of methods shows with 80% power here: {finest}." if finest
              else "")
           + (f" The retain model's own Min-K% AUC over the worlds: {auc['mean']:.2f} [{auc['ci_low']:.2f}, "
              f"{auc['ci_high']:.2f}] (0.5 for a model that never saw the forget items)." if auc else "") + "</p>"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 0.28 * len({r['method'] for r in ranks}) + 1.2),
                             squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        rows = sorted((r for r in ranks if r["metric"] == metric), key=lambda r: r["rank_mean"])
        y = np.arange(len(rows))
        ax.hlines(y, [r["rank_low"] for r in rows], [r["rank_high"] for r in rows], color="#4c78a8", lw=3)
        ax.plot([r["rank_mean"] for r in rows], y, "o", color="#1f3b5a", ms=4)
        ax.set_yticks(y, [r["method"] for r in rows], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("rank (1 = best), 95% interval", fontsize=8)
        ax.set_title(metric, fontsize=9)
    out.append(P.svg(fig, f"{task}-ranks-"))
    for metric in (m for m in metrics if any(p["metric"] == m for p in pairs)):
        names = [r["method"] for r in sorted((r for r in ranks if r["metric"] == metric), key=lambda r: r["rank_mean"])]
        m = np.full((len(names), len(names)), np.nan)
        star = np.zeros_like(m, dtype=bool)
        for p in (p for p in pairs if p["metric"] == metric):
            i, j = names.index(p["method_a"]), names.index(p["method_b"])
            m[i, j], m[j, i] = p["p_a_better"], 1 - p["p_a_better"]
            star[i, j] = star[j, i] = p["significant"]
        fig, ax = plt.subplots(figsize=(0.32 * len(names) + 2.2, 0.32 * len(names) + 1.4))
        ax.imshow(m, cmap="RdBu", vmin=0, vmax=1)
        for i in range(len(names)):
            for j in range(len(names)):
                if star[i, j] and m[i, j] > 0.5:
                    ax.text(j, i, "*", ha="center", va="center", fontsize=8, color="white")
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
        ax.set_yticks(range(len(names)), names, fontsize=6)
        ax.set_title(f"{task}: P(row beats column), {metric}", fontsize=8)
        out.append(P.svg(fig, f"{task}-wins-{metric}-"))
    return out
