"""The question-answer evaluator of the fictitious-author family (TOFU).

Every answer variant of every item (answer, paraphrased answer, perturbed answers) is scored in one
teacher-forced pass, in length-sorted batches; every metric of an item is derived from those numbers.
Generation for ROUGE is greedy (harness/evaluate.py). Items keep their ids from loading to the
per-item output.
"""
from __future__ import annotations

import numpy as np

from harness import metric_parts as MP
from harness import metrics as M
from harness.config import EvalConfig
from harness.evaluate import generate, score
from harness.prompts import PromptFormatter

# Sets in TOFU's *_perturbed schema (forget and retain): the truth ratio's right side is the
# paraphrased answer and the probability is P~(answer) itself. The others (real-authors, world-facts)
# use the original answer as the right side and normalise the probability over the options. How the
# truth ratio is aggregated is a separate choice: mean(min(R, 1/R)) on the forget split only,
# mean(max(0, 1 - R)) on every other set (see _aggregate).
PARAPHRASED_SETS = {"forget", "retain"}



def _variants(kind: str, row: dict) -> list[tuple[str, str]]:
    """(variant name, answer text) pairs scored for one item."""
    out = [("answer", row["answer"])]
    if kind == "holdout":  # membership inference needs the answer only
        return out
    if kind in PARAPHRASED_SETS:
        out.append(("paraphrased", row["paraphrased_answer"]))
    out += [(f"wrong{j}", w) for j, w in enumerate(row["perturbed_answer"])]
    return out


def evaluate_sets(model, fmt: PromptFormatter, sets: dict[str, list[dict]], cfg: EvalConfig,
                  pad_id: int, with_generation: bool = True, progress: bool = True):
    """Return (per-item records, per-set aggregates). `sets` maps kind -> rows with an 'id'. Kinds:
    forget, retain, real_authors, world_facts (TOFU) and holdout (membership inference only)."""
    model.eval()
    by_item: dict[tuple, dict] = {}
    tokens = 0
    for kind, rows in sets.items():
        # Scored set by set, so an item's numbers never depend on which other sets share its batch
        # (the retain model's forget ratios are then identical in its own run and as the reference).
        seqs, keys = [], []
        for row in rows:
            for name, text in _variants(kind, row):
                seqs.append((row["question"], text))
                keys.append((row["id"], name))
        detail = [name == "answer" and kind in MIA_SETS for _, name in keys]
        res = score(model, fmt, seqs, cfg.batch_size, pad_id, detail, desc=f"score {kind}", progress=progress)
        for (iid, name), v in zip(keys, res):
            by_item.setdefault((kind, iid), {})[name] = v
        tokens += sum(v["seq_tokens"] for v in res)
    records, agg = [], {}
    for kind, rows in sets.items():
        gens = [None] * len(rows)
        if with_generation and kind != "holdout":
            gens, n = generate(model, fmt, [r["question"] for r in rows], cfg, pad_id, progress)
            tokens += n
        recs = [_item(kind, row, by_item[(kind, row["id"])], g, cfg.min_k) for row, g in zip(rows, gens)]
        records += recs
        agg[kind] = _aggregate(kind, recs)
    agg["_tokens"] = tokens  # every token through a forward pass (scoring and generation)
    return records, agg


MIA_SETS = {"forget", "retain", "holdout"}


def _item(kind: str, row: dict, n: dict, generation: str | None, k: float) -> dict:
    """Every per-item number, derived from the item's scored variants (and its generation)."""
    nll = {k: v["nll_mean"] for k, v in n.items()}
    rec = {"set": kind, "id": row["id"], "question": row["question"], "answer": row["answer"], "nll_mean": nll}
    if kind != "holdout":
        wrong = [v for k, v in nll.items() if k.startswith("wrong")]
        right = nll["paraphrased"] if kind in PARAPHRASED_SETS else nll["answer"]
        rec["log_truth_ratio"] = M.log_truth_ratio(right, wrong)
        rec["truth_ratio"] = M.truth_ratio(right, wrong)  # None when beyond a float (collapsed model)
        rec["prob"] = M.length_normalised_prob(nll["answer"]) if kind in PARAPHRASED_SETS \
            else M.normalised_option_prob(nll["answer"], wrong)
    if generation is not None:
        rec["generation"] = generation
        rec["rouge"] = M.rouge_l_recall(generation, row["answer"])
    if kind in MIA_SETS:
        a = n["answer"]
        rec["exact_memorization"] = M.exact_memorization(a["match"])
        rec["extraction_strength"] = M.extraction_strength(a["match"])
        rec["mia"] = M.mia_scores(a["logps"], a["z"], row["answer"], k)
    return rec


def _aggregate(kind: str, recs: list[dict]) -> dict:
    out = {"n": len(recs)}
    if kind != "holdout":
        logs = [r["log_truth_ratio"] for r in recs]
        out["log_ratios"] = {r["id"]: r["log_truth_ratio"] for r in recs}
        out["truth_ratio"] = M.forget_truth_ratio_stat(logs) if kind == "forget" else M.utility_truth_ratio_stat(logs)
        out["prob"] = float(np.mean([r["prob"] for r in recs]))
    if recs and "rouge" in recs[0]:
        out["rouge"] = float(np.mean([r["rouge"] for r in recs]))
    if kind in MIA_SETS:
        out["exact_memorization"] = float(np.mean([r["exact_memorization"] for r in recs]))
        out["extraction_strength"] = float(np.mean([r["extraction_strength"] for r in recs]))
        out["mia"] = [r["mia"] for r in recs]  # per item: {attack: score}
    return out


def mia_aucs(agg: dict) -> dict:
    """AUC of each attack, forget (members, label 1) vs holdout (non-members, label 0)."""
    return MP.aucs(agg["forget"]["mia"], agg["holdout"]["mia"])


def aligned(ids: list[str], by_id: dict[str, float], what: str) -> list[float]:
    """Values of `by_id` in the order of `ids`, joined by item id; a missing or extra item fails
    loudly (a positional join silently compares different items when one is dropped)."""
    missing = [i for i in ids if i not in by_id]
    extra = sorted(set(by_id) - set(ids))
    if missing or extra:
        raise RuntimeError(f"{what} do not cover the evaluated forget items: {len(missing)} missing"
                           f"{f' (e.g. {missing[0]})' if missing else ''}, {len(extra)} extra"
                           f"{f' (e.g. {extra[0]})' if extra else ''}")
    return [by_id[i] for i in ids]


def tofu_metrics(agg: dict, reference: dict | None) -> dict:
    """Headline numbers. The retain model's forget truth ratios and MIA AUCs (`reference`, measured
    by the harness) are required: a missing input fails the run, never a silent None."""
    if not reference or not reference.get("log_ratios") or not reference.get("auc"):
        raise RuntimeError("forget_quality and privleak need the retain model's truth ratios and MIA AUCs "
                           "on this forget split, and they are missing")
    out = {}
    for kind, a in agg.items():
        if kind.startswith("_"):
            continue
        for m in ("prob", "rouge", "truth_ratio", "exact_memorization", "extraction_strength"):
            if m in a:
                out[f"{kind}_{m}"] = a[m]
        out[f"{kind}_n"] = a["n"]
    ours = agg["forget"]["log_ratios"]
    theirs = aligned(list(ours), reference["log_ratios"], "the retain model's truth ratios")
    out.update(M.forget_quality(list(ours.values()), theirs))
    out["model_utility"] = M.model_utility(out)
    out["exact_memorization"] = out["forget_exact_memorization"]
    out["extraction_strength"] = out["forget_extraction_strength"]
    out.update(MP.membership(agg["forget"]["mia"], agg["holdout"]["mia"], reference["auc"]))
    return out


def membership_scores(model, fmt: PromptFormatter, data: dict, cfg) -> tuple[list[dict], dict]:
    """(per-item records of the forget and holdout items, each with its attack scores `mia`; the AUC per
    attack): teacher-forced, no generation. What the in-context form reports as the weights' own
    membership inference (scored with the plain prompt)."""
    from harness import models as MD
    sets = {k: data["eval"][k] for k in ("forget", "holdout")}
    recs, agg = evaluate_sets(model, fmt, sets, cfg.eval, MD.pad_id(fmt.tok), with_generation=False, progress=False)
    return recs, mia_aucs(agg)
