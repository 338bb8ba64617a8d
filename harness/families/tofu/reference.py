"""The fictitious-author family's reference numbers: the retain model's per-item log truth ratios on
the forget split (forget quality's other sample) and its membership-inference AUCs (privleak's
denominator), measured once and cached (harness/reference.py)."""
from __future__ import annotations

from harness import models as MD
from harness.config import RunConfig
from harness.families.tofu import real_world
from harness.families.tofu.qa import evaluate_sets, mia_aucs
from harness.io import stable_hash
from harness.reference import cached, measured_on

REFERENCE_VERSION = 3     # bump when the evaluator changes what a cached reference number would be


def _key_body(retain_ref: str, data: dict, cfg: RunConfig, context: tuple = ()) -> dict:
    forget, holdout = data["eval"]["forget"], data["eval"]["holdout"]
    body = {**measured_on("retain", retain_ref, cfg, REFERENCE_VERSION),
            "items": [(r["id"], r["question"], r["answer"], r["paraphrased_answer"], r["perturbed_answer"])
                      for r in forget],
            "holdout": [(r["id"], r["question"], r["answer"]) for r in holdout]}
    if context:  # in-context examples before every question (the in-context probe)
        body["context"] = [list(p) for p in context]
    return body


def reference_key(retain_ref: str, data: dict, cfg: RunConfig, context: tuple = ()) -> str:
    return stable_hash(_key_body(retain_ref, data, cfg, context))


def reference(task, paths: dict, data: dict, cfg: RunConfig, context: tuple = ()) -> dict:
    """{"retain_model", "log_ratios": {forget item id: log truth ratio}, "auc": {attack: AUC}} of the
    retain model on the evaluated forget and holdout items. `context`: in-context examples put before
    every question (the in-context probe compares like with like)."""
    retain_ref = paths["retain"]
    ev = data["eval"]

    def measure() -> dict:
        model, tok, fmt = MD.open_model(retain_ref, cfg, context)
        _, agg = evaluate_sets(model, fmt, {"forget": ev["forget"], "holdout": ev["holdout"]}, cfg.eval,
                               MD.pad_id(tok), with_generation=False, progress=False)
        return {"retain_model": retain_ref, "log_ratios": agg["forget"]["log_ratios"], "auc": mia_aucs(agg)}
    out = cached("", _key_body(retain_ref, data, cfg, context), measure)
    if "real_world" in data:  # the plain prompt always: which questions the base model knows
        out["real_world"] = real_world_reference(paths["base"], data["real_world"], cfg)
    return out


def real_world_reference(base_ref: str, rows: list[dict], cfg: RunConfig) -> dict:
    """{"kept": ids the base model answers correctly, "n": questions asked, "base_model"}: the real-world
    utility set of a real model (harness/families/tofu/real_world.py), measured once per base model."""
    def measure() -> dict:
        model, tok, fmt = MD.open_model(base_ref, cfg)
        recs, _ = real_world.score(model, fmt, rows, cfg.eval, MD.pad_id(tok))
        return {"base_model": base_ref, "n": len(rows), "kept": [r["id"] for r in recs if r["correct"]],
                "answers": {r["id"]: r["generation"] for r in recs}}
    body = {**measured_on("base", base_ref, cfg, REFERENCE_VERSION),
            "questions": [(r["id"], r["question"], r["accepted"]) for r in rows]}
    return cached("realworld-", body, measure)
