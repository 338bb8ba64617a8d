"""In-context unlearning: the target's weights unchanged, a prompt policy applied to every question.

Two policies, applied by the evaluator to every question it asks (the forget questions and all the
others alike: a deployed system cannot tell which question is about a forget author, so it must not be
told here either):
- pretend: an instruction before every prompt that names what to forget (TOFU: the forget authors; the
  hazard track: the hazardous subject) and asks the model to answer as if it had never learned it (as
  a chat model's system turn; for the hazard track, lm-eval's `system_instruction`);
- icul (Pawelczyk et al. 2023, *In-Context Unlearning*): before the question, `n_forget` forget
  question-answer pairs with wrong ("flipped") answers and then `n_retain` retain pairs with their
  correct answers, as earlier turns. ICUL puts the point to be forgotten itself in the context; with
  many forget points the context cannot hold them all, so the forget pairs are the ones closest to the
  question (most shared words), which for a forget question is that question itself. A flipped answer
  is the answer another author gives to the same question (same position in its block), with that
  author's name replaced by this one's: fluent, and wrong.

Cost: no training; `extra_prompt_tokens` is the mean number of prompt tokens the policy adds to a
question, paid at every query. Membership inference and privleak are computed on the weights, which
did not change: the row's `mia_auc_*` and `privleak` are the unchanged weights' numbers (forget and
holdout are scored again without the policy; form.json: `mia_source: weights`), and its note says so,
because this is the form's known weakness. The numbers measured with the policy are kept beside them
as `policy_mia_auc_*` and `policy_privleak`. Each forget and holdout item in items.jsonl holds both
scores: `mia` with the policy (as every other per-item number of the row), `mia_weights` without, so
every reported AUC can be recomputed from the items.

Only ICUL is seeded (its retain examples are drawn with the run seed); the pretend instruction has
no randomness, so a grid runs it once whatever seeds it lists.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Literal

from harness import metric_parts as MP
from harness import metrics as M
from harness.config import ConfigError
from harness.forms import Produced, register_form
from harness.schema import num

WEIGHTS_NOTE = ("in-context: weights unchanged, so membership inference and privleak are the target's "
                "(scored without the policy; with it: policy_mia_auc_*, policy_privleak)")


@dataclass
class InContextConfig:
    policy: Literal["pretend", "icul"] = "pretend"
    n_forget: int = num(1, ge=1, le=8)    # icul: flipped forget pairs before each question
    n_retain: int = num(2, ge=0, le=16)   # icul: correct retain pairs after them
    instruction: str = ""                 # pretend: '' = the built-in text; may use {authors} / {topic}
    items_per_author: int = num(0, ge=0, note="0 = the world's, or TOFU's 20")


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def flipped(rows: list[dict], others: list[dict], per: int, units) -> list[tuple[str, str]]:
    """Each forget row's question with the answer another author gives at the same position in its
    block, that author's name replaced by this one's. `others`: forget rows of other authors, else
    retain rows. `units`: the family's units of knowledge (its track's `units`: blocks and label)."""
    blocks = units.blocks(rows, per, "method incontext")
    donors = units.blocks(others, per, "method incontext")
    out = []
    for b, block in enumerate(blocks):
        mine = units.label(block)
        donor = donors[(b + 1) % len(donors)]  # the next author (of the forget set, or of the retain set)
        theirs = units.label(donor)
        for j, row in enumerate(block):
            wrong = donor[j]["answer"]
            if mine and theirs:
                wrong = wrong.replace(theirs, mine)
            out.append((row["question"], wrong))
    return out


def icul_picker(forget: list[dict], retain: list[dict], per: int, n_forget: int, n_retain: int, seed: int, units):
    """question -> the ICUL context: the n_forget closest forget pairs (flipped), then n_retain retain
    pairs (drawn once with the seed; the question itself never among them)."""
    n_authors = len(forget) // per
    others = forget if n_authors > 1 else retain[:per * max(1, len(retain) // per)]
    pairs = flipped(forget, others, per, units)
    bags = [_words(q) for q, _ in pairs]
    pool = random.Random(f"icul-{seed}").sample(retain, min(len(retain), n_retain + 1))

    def pick(question: str) -> tuple:
        mine = _words(question)
        order = sorted(range(len(pairs)), key=lambda i: (-len(mine & bags[i]) / max(1, len(mine | bags[i])), i))
        shown = [pairs[i] for i in order[:n_forget]]
        right = [(r["question"], r["answer"]) for r in pool if r["question"] != question][:n_retain]
        return tuple(shown + right)
    return pick


@register_form("incontext")
class InContext:
    kind = "in-context"
    summary = "the target unchanged; a prompt policy (a pretend instruction, or ICUL's flipped examples) on every query"
    # the family's pretend instruction (its track's pretend_instruction and pretend_fill); ICUL and the
    # weights' membership inference need question-answer items of whole units (qa, units) and the
    # family's membership scores (membership)
    requires = ("pretend_instruction",)
    Config = InContextConfig

    def label(self, cfg: InContextConfig) -> str:
        return "icul" if cfg.policy == "icul" else "pretend"

    def seeded(self, cfg: InContextConfig) -> bool:
        return cfg.policy == "icul"  # ICUL's retain examples are drawn with the run seed; pretend has no draw

    def check(self, cfg: InContextConfig, r, data: dict, source: str) -> None:
        units = r.track.units
        if cfg.policy == "icul" and not (r.track.qa and units):
            raise ConfigError(f"method incontext: policy=icul needs question-answer pairs of whole units to flip; "
                              f"task family {r.task.family} has none (use policy=pretend)")
        if r.track.qa and units:
            units.blocks(data["forget"], units.per(cfg.items_per_author, source), "method incontext: the forget split")
            if cfg.policy == "icul" and len(data["retain"]) < cfg.n_retain + 1:
                raise ConfigError(f"method incontext: n_retain={cfg.n_retain} but the retain split has "
                                  f"{len(data['retain'])} items")

    def instruction(self, cfg: InContextConfig, r, data: dict, source: str) -> str:
        fill = r.track.pretend_fill(r.task, data, source, cfg.items_per_author)
        return (cfg.instruction or r.track.pretend_instruction).format(**fill)

    def produce(self, ctx) -> Produced:
        cfg, r, data = ctx.run.form_cfg, ctx.run, ctx.data
        source = ctx.paths.get("source")
        if cfg.policy == "pretend":
            text = self.instruction(cfg, r, data, source)
            fmt = ctx.fmt.with_policy(instruction=text)
            info = {"policy": "pretend", "instruction": text}
        else:
            units = r.track.units
            pick = icul_picker(data["forget"], data["retain"], units.per(cfg.items_per_author, source), cfg.n_forget,
                               cfg.n_retain, r.cfg.seed, units)
            fmt = ctx.fmt.with_policy(pick=pick)
            info = {"policy": "icul", "n_forget": cfg.n_forget, "n_retain": cfg.n_retain}
        extra = _extra_tokens(ctx.fmt, fmt, data, r.track.qa)
        info["extra_prompt_tokens"] = extra
        weights_mia = r.track.membership is not None  # the family scores membership inference on items
        if weights_mia:  # which numbers (and per-item scores) are the weights', which the policy's
            info["mia_source"] = "weights"
            info["mia_items"] = {"weights": "mia_weights", "policy": "mia"}
        model = ctx.model  # the start model the run loaded: its weights are the form's
        return Produced(model, fmt, compute={"extra_prompt_tokens": extra}, info=info,
                        note=WEIGHTS_NOTE if weights_mia else "in-context: weights unchanged",
                        post=_weights_mia(model) if weights_mia else None, retrain_ratio=False)


def _extra_tokens(plain, policy, data: dict, qa: bool) -> float:
    """Mean prompt tokens the policy adds per question (question-answer items: over every evaluated
    question; otherwise, as on the hazard track, the instruction and the blank line after it, which
    lm-eval puts before every prompt)."""
    if not qa:
        return float(len(policy.tok(policy.instruction + "\n\n", add_special_tokens=False)["input_ids"]))
    qs = [row["question"] for rows in data["eval"].values() for row in rows]
    return sum(len(policy.prompt_ids(q)) - len(plain.prompt_ids(q)) for q in qs) / max(1, len(qs))


def _weights_mia(model):
    def post(metrics: dict, ctx) -> dict:
        """Membership inference and privleak of the unchanged weights: forget and holdout scored
        without the policy (an attacker holding the weights does not use the deployer's prompt). The
        numbers measured with the policy move to policy_*; each forget and holdout item gets its
        scores without the policy as `mia_weights`, beside its prompted `mia`."""
        if ctx.items is None:
            raise RuntimeError("the in-context form's post hook needs the run's per-item records (ctx.items)")
        recs, aucs = ctx.run.track.membership(model, ctx.fmt, ctx.data, ctx.run.cfg)
        out = dict(metrics)
        for attack in M.MIA_ATTACKS:
            out[f"policy_mia_auc_{attack}"] = metrics[f"mia_auc_{attack}"]
        out["policy_privleak"], out["policy_privleak_diff"] = metrics["privleak"], metrics["privleak_diff"]
        out.update(MP.from_aucs(aucs, ctx.ref["auc"]))
        weights = {(r["set"], r["id"]): r["mia"] for r in recs}
        for item in ctx.items:
            if item["set"] in ("forget", "holdout"):
                item["mia_weights"] = weights.pop((item["set"], item["id"]))
        if weights:
            raise RuntimeError(f"in-context: {len(weights)} items scored without the policy are not among the "
                               f"run's evaluated items")
        return out
    return post
