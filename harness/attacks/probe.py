"""Probes: the unlearned model unchanged, the forget questions asked differently.

A method that only learned to avoid one wording of a question has hidden the answer, not forgotten it.
Two probes (REFERENCE: Maini et al. 2024 report TOFU's paraphrased questions; in-context examples as in
Pawelczyk et al. 2023 and Łucki et al. 2024, who recover knowledge with a few unrelated shots):
- paraphrase: every forget question replaced by its paraphrase (TOFU's `paraphrased_question`; the
  synthetic world provides it); the answers, their paraphrases and perturbations are unchanged;
- incontext: `n_examples` retain question-answer pairs (drawn with the run's seed) put before every
  forget question (and every holdout question, which membership inference compares them with) as
  earlier turns of the same template (a chat model: earlier user/assistant turns). The utility sets
  are asked as the run asked them: on the tiny default models a longer prompt alone lowers every
  answer's probability, which is not what this probe measures.

The run's whole evaluation is repeated under the probe, so every metric is comparable with the run's
own; `<metric>_change` is the probed number minus the run's. Forget quality compares like with like:
the retain model's truth ratios are measured again under the same probe (cached). The control is the
retain model under the same probe: its change is what the rewording alone does to a model that never
knew the forget authors, and `<metric>_net_change` is the method's change minus the control's.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from harness.attacks import register_attack
from harness.config import ConfigError
from harness.schema import num


@dataclass
class ParaphraseConfig:
    pass  # nothing to set: the dataset's paraphrases are the probe


@dataclass
class InContextConfig:
    n_examples: int = num(3, ge=1, le=16)


@register_attack("paraphrase")
class Paraphrase:
    summary = "the forget questions asked in their paraphrased wording (TOFU's paraphrased_question)"
    requires = ("qa",)
    Config = ParaphraseConfig
    seeded = False  # the dataset's paraphrases: nothing drawn

    def check(self, cfg: ParaphraseConfig, data: dict, source: str, track) -> None:
        missing = sum(not str(r.get("paraphrased_question") or "").strip() for r in data["eval"]["forget"])
        if missing:
            raise ConfigError(f"attack paraphrase: {missing} forget evaluation items have no paraphrased_question "
                              f"(TOFU's *_perturbed files have it)")

    def restrict(self, ctx, cfg: ParaphraseConfig):
        forget = [{**r, "question": r["paraphrased_question"]} for r in ctx.data["eval"]["forget"]]
        data = {**ctx.data, "eval": {**ctx.data["eval"], "forget": forget}}
        r = ctx.run
        return data, r.track.reference(r.task, ctx.paths, data, r.cfg)

    def models(self, model, cfg: ParaphraseConfig, ctx):
        yield "probe", model


def examples(retain: list[dict], n: int, seed: int) -> list[tuple[str, str]]:
    """n retain (question, answer) pairs, the same for every run with this seed."""
    rng = random.Random(f"incontext-{seed}")
    return [(r["question"], r["answer"]) for r in rng.sample(retain, n)]


@register_attack("incontext")
class InContext:
    summary = "the forget questions asked after n retain question-answer pairs as in-context examples"
    requires = ("qa",)
    Config = InContextConfig
    seeded = True  # the examples are drawn with the run's seed

    def check(self, cfg: InContextConfig, data: dict, source: str, track) -> None:
        if len(data["retain"]) < cfg.n_examples:
            raise ConfigError(f"attack incontext: n_examples={cfg.n_examples} but the retain split has "
                              f"{len(data['retain'])} items")

    def formatter(self, ctx, cfg: InContextConfig):
        asked = [r["question"] for kind in ("forget", "holdout") for r in ctx.data["eval"][kind]]
        return ctx.fmt.with_context(examples(ctx.data["retain"], cfg.n_examples, ctx.seed), only=asked)

    def restrict(self, ctx, cfg: InContextConfig):
        r = ctx.run
        return ctx.data, r.track.reference(r.task, ctx.paths, ctx.data, r.cfg, context=ctx.fmt.context)

    def models(self, model, cfg: InContextConfig, ctx):
        yield f"n{cfg.n_examples}", model
