"""Does the toy model's method ranking transfer to a real model? The rank correlation (Spearman) of the
methods between two leaderboards, on forget quality, model utility and robustness, and the table.

    python scripts/transfer.py TOY_RESULTS REAL_RESULTS [toy_task=tofu_forget10] [real_task=tofu_real_forget10]

TOY_RESULTS: a results folder of `make leaderboard` (its leaderboard.csv: the methods at their registered
defaults, full fine-tuning). REAL_RESULTS: a results folder of `make leaderboard-real` (its
leaderboard_selected.csv: each method at the setting its sweep selected). Only methods with a number on
both sides are ranked; with n methods, Spearman's rho needs |rho| above about 0.8 (n = 6) to be told
from no relation at the 5% level, so the table says n and the p-value beside rho.
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr

METRICS = {"forget_quality": "higher", "model_utility": "higher", "robustness": "higher"}


def rows(path: Path, task: str) -> pd.DataFrame:
    df = pd.read_csv(path)
    df = df[df["task"] == task]
    if "status" in df:
        df = df[df["status"] == "complete"]
    if "reference_row" in df:
        df = df[~df["reference_row"].astype(bool)]
    return df.drop_duplicates("method").set_index("method")


def exact_p(x: list, y: list) -> float | None:
    """Two-sided permutation p-value of Spearman's rho: the share of the n! orderings of y whose |rho| is
    at least the observed one (None above 8 methods: 40,320 orderings is where it stops being instant)."""
    if len(x) > 8 or len(set(x)) < 2 or len(set(y)) < 2:  # a constant side has no rank correlation
        return None
    a, b = rankdata(x), rankdata(y)
    obs = abs(np.corrcoef(a, b)[0, 1])
    hits = [abs(np.corrcoef(a, b[list(p)])[0, 1]) >= obs - 1e-12 for p in itertools.permutations(range(len(b)))]
    return sum(hits) / len(hits)


def compare(toy: pd.DataFrame, real: pd.DataFrame) -> tuple[list[dict], pd.DataFrame]:
    out = []
    table = pd.DataFrame(index=sorted(set(toy.index) & set(real.index)))
    for m in METRICS:
        both = [k for k in table.index if m in toy and m in real and pd.notna(toy.at[k, m]) and pd.notna(real.at[k, m])]
        table[f"toy {m}"] = [toy.at[k, m] if m in toy else None for k in table.index]
        table[f"real {m}"] = [real.at[k, m] if m in real else None for k in table.index]
        if len(both) >= 3:
            x, y = [toy.at[k, m] for k in both], [real.at[k, m] for k in both]
            rho, p = spearmanr(x, y)
            out.append({"metric": m, "n": len(both), "rho": float(rho), "p": float(p), "exact_p": exact_p(x, y)})
        else:
            out.append({"metric": m, "n": len(both), "rho": None, "p": None, "exact_p": None})
    return out, table


def main(argv: list[str]) -> None:
    opts = dict(a.split("=", 1) for a in argv if "=" in a)
    toy_dir, real_dir = (Path(a) for a in argv if "=" not in a)
    toy = rows(toy_dir / "leaderboard.csv", opts.get("toy_task", "tofu_forget10"))
    real = rows(real_dir / "leaderboard_selected.csv", opts.get("real_task", "tofu_real_forget10"))
    stats, table = compare(toy, real)
    print("| metric | methods | Spearman rho | p (t approximation) | p (exact permutation) |\n|---|---|---|---|---|")
    fmt = lambda v, f: "n/a" if v is None else format(v, f)  # noqa: E731
    for s in stats:
        print(f"| {s['metric']} | {s['n']} | {fmt(s['rho'], '+.2f')} | {fmt(s['p'], '.2f')} | {fmt(s['exact_p'], '.3f')} |")
    print()
    cols = list(table.columns)
    print("| method | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols))
    for k, r in table.iterrows():
        print(f"| {k} | " + " | ".join("–" if pd.isna(v) else f"{v:.3g}" for v in r) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
