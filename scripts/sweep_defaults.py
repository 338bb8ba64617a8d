"""The documented search behind each method's defaults (methods/README.md).

Runs every candidate setting of every method (full fine-tuning and LoRA) on one task of the default
benchmark and prints a markdown table. Selection rule: among the settings that keep model utility at
least 0.8 x the target's and that unlearn at all (forget ROUGE at most 0.9 x the target's), the one
whose forget truth ratios are closest to the retain model's (lowest KS statistic; ties: lower forget
ROUGE). If no setting qualifies, the one with the highest utility.

    python scripts/sweep_defaults.py [task=tofu_forget10] [results_dir=results/sweeps] [methods=npo,rmu]
"""
from __future__ import annotations

import json
import sys


from harness import runs
from harness.config import load_run_config
from harness.registry import load_methods

LRS = {"none": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], "lora": [3e-4, 1e-3, 2e-3, 3e-3, 1e-2]}
EXTRA = {  # method-specific candidates, crossed with the learning rates
    "rmu": [["method_args.alpha=1"], ["method_args.alpha=10"]],
    # PDU's retain constraint: the default bound and dual step, a 10x faster dual step, and a tighter bound
    "pdu": [[], ["method_args.dual_lr=1"], ["method_args.epsilon=0.02", "method_args.dual_lr=1"]],
}


def main(argv: list[str]) -> None:
    opts = dict(a.split("=", 1) for a in argv)
    task = opts.get("task", "tofu_forget10")
    out = opts.get("results_dir", "results/sweeps")
    methods = opts["methods"].split(",") if "methods" in opts else sorted(load_methods())
    target = _metrics(runs.resolve(load_run_config(None, [f"task={task}", "method=none", f"results_dir={out}"])))
    rows = []
    for m in methods:
        for adapter in ("none", "lora"):
            if adapter == "none" and load_methods()[m].requires_adapter:
                continue
            for extra in EXTRA.get(m, [[]]):
                for lr in LRS[adapter]:
                    ov = [f"task={task}", f"method={m}", f"adapter.kind={adapter}", f"unlearn.lr={lr}",
                          "unlearn.save_model=false", f"results_dir={out}", *extra]
                    met = _metrics(runs.resolve(load_run_config(None, ov)))
                    rows.append({"method": m, "adapter": adapter, "setting": " ".join([f"lr={lr:g}", *[
                        e.split(".", 1)[1] for e in extra]]), **met})
                    print(json.dumps(rows[-1]), flush=True)
    floor = 0.8 * target["model_utility"]
    moved = 0.9 * target["forget_rouge"]
    print(f"\ntarget: utility {target['model_utility']:.3f}, forget ROUGE {target['forget_rouge']:.3f}; "
          f"floor 0.8 x utility = {floor:.3f}; unlearned means forget ROUGE <= {moved:.3f}\n")
    print("| method | adapter | setting | FQ | KS | utility | forget ROUGE | chosen |")
    print("|---|---|---|---|---|---|---|---|")
    for (m, a) in dict.fromkeys((r["method"], r["adapter"]) for r in rows):
        group = [r for r in rows if r["method"] == m and r["adapter"] == a]
        ok = [r for r in group if r["status"] == "complete" and r["model_utility"] >= floor
              and r["forget_rouge"] <= moved]
        best = min(ok, key=lambda r: (r["ks_stat"], r["forget_rouge"])) if ok else \
            max((r for r in group if r["status"] == "complete"), key=lambda r: r["model_utility"], default=None)
        for r in group:
            if r["status"] != "complete":
                print(f"| {m} | {a} | {r['setting']} | diverged | | | | |")
                continue
            print(f"| {m} | {a} | {r['setting']} | {r['forget_quality']:.2g} | {r['ks_stat']:.3f} | "
                  f"{r['model_utility']:.3f} | {r['forget_rouge']:.3f} | {'**yes**' if r is best else ''} |")


def _metrics(r) -> dict:
    status = runs.execute(r, progress=False)
    if status == "skipped":
        status = json.loads((r.folder / "status.json").read_text())["status"]
    m = json.loads((r.folder / "metrics.json").read_text())
    return {"status": status, **{k: m.get(k) for k in ("forget_quality", "ks_stat", "model_utility", "forget_rouge")}}


if __name__ == "__main__":
    main(sys.argv[1:])
