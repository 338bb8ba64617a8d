"""`python -m harness significance <grid files> [key=value ...]`: the statistics of a replicated study
(a grid with world_seeds and seeds), from its run folders alone (docs/statistics.md). The runs are
the ones the grid resolves to, and must be complete (`grid` computes them). Writes, in the grid's
results folder, significance_runs.csv (every run's headline numbers), significance_ranks.csv and
significance_pairs.csv (harness/significance.py), and significance_power.csv: the smallest difference
a typical pair of methods shows at several replications, from the study's own variance
(harness/power.py)."""
from __future__ import annotations

from pathlib import Path

from harness import grid, leaderboard
from harness.batch import unique
from harness import power as P
from harness import significance as S
from harness.config import ConfigError
from harness.progress import say
from harness.runs import is_complete, resolve


def command(files: list[str], overrides: list[str]) -> int:
    if not files:
        raise ConfigError("significance: give the study's grid file(s), e.g. configs/study_significance.yaml")
    configs = [g.cfg for f in files for g in grid.grid_runs(f, overrides)]
    dirs = sorted({c.results_dir for c in configs})
    if len(dirs) > 1:
        raise ConfigError(f"the study writes to several results folders {dirs}: give one results_dir")
    resolved, _ = unique([resolve(c) for c in configs], configs)   # a run id counted once
    method_runs = [r for r in resolved if r.method is not None or r.form is not None]
    ids = {r.run_id for r in method_runs}
    missing = [r for r in method_runs if not is_complete(r.folder)]
    if missing:
        raise ConfigError(f"{len(missing)} of the study's {len(method_runs)} runs are not complete (e.g. "
                          f"{missing[0].run_id}): run `python -m harness grid {' '.join(files)}` first")
    results = Path(dirs[0])
    runs_df, specs, _, broken = leaderboard.collect(results)
    if broken:
        raise ConfigError(f"{len(broken)} run folders in {results} cannot be read (e.g. {broken[0][0]}: {broken[0][1]})")
    recs = S.records(runs_df[runs_df["run_id"].isin(ids)], specs)
    per_run = [{"task": r["task"], "method": r["method"], "world_seed": r["world"], "seed": r["run"], "metric": m,
                "value": r["metrics"].get(m), "run_id": r["run_id"]}
               for task in recs for r in recs[task] for m, s in r["specs"].items() if s.get("headline")]
    S.write_csv(results / "significance_runs.csv", per_run, ["task", "method", "world_seed", "seed", "metric", "value",
                                                             "run_id"])
    ranks, pairs, retain_rows, power = [], [], [], []
    for task, mine in recs.items():
        st = S.task_study(mine, P.DESIGNS)
        if st["worlds"] < 2:
            seeds = len({r["run"] for r in mine})
            say(f"significance: {task} has {st['worlds']} world seed and {seeds} run seed(s): too few to compute an "
                f"interval (replicate over world_seeds); its per-run numbers are in {results / 'significance_runs.csv'}")
            continue
        auc = st["retain_auc"]
        if auc is not None:
            retain_rows.append({"task": task, **{k: v for k, v in auc.items() if k != "per_world"},
                                "per_world": " ".join(f"{w}:{x:.3f}" for w, x in auc["per_world"].items())})
            say(f"significance: {task}: the retain model's Min-K% AUC over {auc['n_worlds']} worlds {auc['mean']:.3f} "
                f"[{auc['ci_low']:.3f}, {auc['ci_high']:.3f}] (a model that never saw the forget items: about 0.5)")
        ranks += st["ranks"]
        pairs += st["pairs"]
        power += st["power"]
        for metric in dict.fromkeys(p["metric"] for p in st["pairs"]):
            these = [p for p in st["pairs"] if p["metric"] == metric]
            say(f"significance: {task} {metric}: {sum(p['significant'] for p in these)} of {len(these)} method pairs "
                f"differ after Holm's correction ({st['worlds']} world seeds)")
    S.write_csv(results / "significance_power.csv", power, ["task", "metric", "pairs", "world_var", "run_var",
                                                            "world_share", *[f"mdd_w{w}_r{r}" for w, r in P.DESIGNS]])
    S.write_csv(results / "significance_retain_auc.csv", retain_rows,
                ["task", "n_worlds", "mean", "ci_low", "ci_high", "per_world"])
    S.write_csv(results / "significance_ranks.csv", ranks, S.RANK_COLUMNS)
    S.write_csv(results / "significance_pairs.csv", pairs, S.PAIR_COLUMNS)
    say(f"significance: {sum(len(v) for v in recs.values())} runs -> {results / 'significance_ranks.csv'}, "
        f"significance_pairs.csv, significance_runs.csv, significance_power.csv")
    return 0
