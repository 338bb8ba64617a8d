"""Relearning attacks: a few fine-tuning steps after unlearning, then the forgotten items asked again.

Hu et al. 2025 (*Unlearning or Obfuscating? Jogging the Memory of Unlearned LLMs via Benign Relearning*)
and Łucki et al. 2024 (*An Adversarial Perspective on Machine Unlearning for AI Safety*) showed that a
few steps on related, or even unrelated, data bring "unlearned" knowledge back: it was suppressed, not
removed. The forget set is split by whole units (TOFU: authors; MUSE: events / articles; the hazard
track: corpus entities; each family's relearn_split, harness/families/) into a relearn part and a probe part; the model is fine-tuned
(AdamW, NLL of answer tokens, of every token for documents) for k steps and, after each k in `steps`,
evaluated on the probe part only, with the run's own evaluation: TOFU's prob, ROUGE, truth ratio and
forget quality (against the retain model's ratios of the same items); MUSE's VerbMem and KnowMem of the
probe events' items and PrivLeak of their reports (against the retain model's AUC on the same reports);
the hazard track's accuracy on the probe entities' questions (general accuracy on all of them).
- relearn: fine-tune on the relearn part (in-domain): the relearn authors' QA pairs; the raw forget
  texts (report and explainer) of the relearn events; the forget-corpus documents of the relearn
  entities;
- relearn_ood: fine-tune on retain data instead (out-of-domain): TOFU's retain QA pairs, MUSE's retain
  documents (retain1), the hazard track's retain corpus. Knowledge that returns from unrelated data was
  only suppressed.
Real MUSE and WMDP data map no question to a document: relearn then trains on the even-numbered forget
documents (of each corpus) and every forget item is probed, so probe items may overlap the relearn text.
Changes are against k = 0 (the unlearned model on the probe part); the harness's control applies the
same steps to a model that never learned the forget data (the retain model; for the hazard track, a base
pretrained without the evaluated entities' documents), so recovery that reading the relearn text alone
explains is not counted against the method.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from harness import models as MD
from harness.attacks import register_attack
from harness.progress import say
from harness.schema import num
from harness.tensors import answer_logprobs, collate


def _steps(v: list) -> str | None:
    ok = v and all(isinstance(k, int) and k >= 0 for k in v) and v == sorted(set(v)) and v[0] == 0
    return None if ok else "an increasing list of step counts >= 0 starting at 0, e.g. [0, 5, 10, 20, 40]"


@dataclass
class RelearnConfig:
    # dense at the start: on the document and hazard tracks recovery saturates by k = 5 (docs/results.md), and a
    # curve that starts at 5 cannot show its onset
    steps: list[int] = field(default_factory=lambda: [0, 1, 2, 5, 10, 20, 40], metadata={"check": _steps})
    # None: SCRATCH_LR on a model this harness trained from scratch (model.base=default), PRETRAINED_LR on a
    # pretrained base (a packaged model, a hub id, a folder). 1e-3 on SmolLM2-135M destroys every model it
    # touches in 10 steps (the retain model's utility 0.50 -> 0, real-world accuracy 0.63 -> 0), which
    # measures damage, not memory; 2e-5 keeps them (0.50 -> 0.50) while bringing back what was suppressed
    lr: float | None = num(None, gt=0, note="None: 1e-3 from scratch, 2e-5 on a pretrained base")
    batch_size: int = num(4, ge=1)
    items_per_author: int = num(0, ge=0, note="TOFU only; 0 = the world's, or TOFU's 20")


SCRATCH_LR, PRETRAINED_LR = 1e-3, 2e-5


def learning_rate(cfg: RelearnConfig, run_cfg) -> float:
    """The relearning learning rate: the configured one, else the default for the run's kind of base."""
    if cfg.lr is not None:
        return cfg.lr
    return SCRATCH_LR if run_cfg.model.base == "default" else PRETRAINED_LR


def _train(model, examples, cfg: RelearnConfig, lr: float, seed: int, pad_id: int, upto: int, done: int,
           state: dict):
    """Continue fine-tuning `model` from step `done` to step `upto` (batches cycle over `examples`)."""
    if "opt" not in state:
        state["opt"] = torch.optim.AdamW(model.parameters(), lr=lr)
        state["gen"] = torch.Generator().manual_seed(seed)
        state["order"] = []
    model.train()
    for _ in range(done, upto):
        if len(state["order"]) < cfg.batch_size:
            state["order"] += torch.randperm(len(examples), generator=state["gen"]).tolist()
        idx, state["order"] = state["order"][:cfg.batch_size], state["order"][cfg.batch_size:]
        lp = answer_logprobs(model, collate([examples[i] for i in idx], pad_id))
        loss = -lp.token_logps.sum() / lp.mask.sum()
        state["opt"].zero_grad(set_to_none=True)
        loss.backward()
        state["opt"].step()
    model.eval()


class _Relearn:
    requires = ("relearn_split",)  # the family splits its forget set into whole units (harness/families/)
    Config = RelearnConfig
    baseline_label = "k0"  # changes are measured against the unlearned model on the probe part
    seeded = True          # the batch order and the torch seed are the run's
    in_domain = True

    def check(self, cfg: RelearnConfig, data: dict, source: str, track) -> None:
        """Before any compute: the forget set splits into whole units (authors, events, entities), at
        least two, each verified to be one unit (the family's relearn_split)."""
        track.relearn_split(data, source, f"attack {self.name}", cfg.items_per_author)

    def _split(self, ctx, cfg: RelearnConfig):
        return ctx.run.track.relearn_split(ctx.data, ctx.paths.get("source"), f"attack {self.name}",
                                           cfg.items_per_author)

    def restrict(self, ctx, cfg: RelearnConfig):
        """The evaluation data limited to the probe part, and the reference model measured again on it:
        the retain model's truth ratios and membership-inference AUCs on the probe authors (TOFU), its
        PrivLeak AUC on the probe reports (MUSE), the base model's accuracy on the probe questions
        (hazard); cached like the run's. So PrivLeak and the MIA numbers compare like with like (the
        retain model itself at k0 has privleak 0). Real data that maps no item to a unit: every item
        probed, against the run's own reference numbers."""
        r, sp = ctx.run, self._split(ctx, cfg)
        if not sp.units[1]:
            return sp.probe, ctx.reference
        return sp.probe, r.track.reference(r.task, ctx.paths, sp.probe, r.cfg)

    def _examples(self, cfg: RelearnConfig, ctx) -> list:
        """The relearn part (in-domain) or the retain data (out-of-domain), encoded as the family's
        unlearning loop encodes its forget and retain sets."""
        track = ctx.run.track
        if self.in_domain:
            return track.training_sets(ctx.fmt, {**ctx.data, "forget": self._split(ctx, cfg).relearn})[0]
        return track.training_sets(ctx.fmt, ctx.data)[1]

    def models(self, model, cfg: RelearnConfig, ctx):
        examples = self._examples(cfg, ctx)
        pad = MD.pad_id(ctx.tok)
        m, state, done = copy.deepcopy(model), {}, 0
        lr = learning_rate(cfg, ctx.run.cfg)
        m.attack_record = {"relearn_lr": lr}  # what ran, beside each label's numbers
        torch.manual_seed(ctx.seed)
        for k in cfg.steps:
            if k > done:
                say(f"  {self.name} on {getattr(ctx, 'who', 'the model')}: steps {done + 1}-{k} of {cfg.steps[-1]} "
                    f"({len(examples)} {'in-domain' if self.in_domain else 'retain'} examples, batches of "
                    f"{cfg.batch_size})")
            _train(m, examples, cfg, lr, ctx.seed, pad, k, done, state)
            done = k
            yield f"k{k}", m


@register_attack("relearn")
class Relearn(_Relearn):
    summary = ("k fine-tuning steps on half of the forget authors / events / entities, the other half probed "
               "[Hu et al. 2025]")


@register_attack("relearn_ood")
class RelearnOOD(_Relearn):
    summary = "k fine-tuning steps on retain data, the same probe half asked [Lucki et al. 2024]"
    in_domain = False
