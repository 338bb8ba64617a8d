"""Differentially private training: the target fine-tuned with DP-SGD, evaluated without unlearning.

DP-SGD (Abadi et al. 2016): each step samples every training example independently with probability
q = B / n (Poisson sampling), computes each example's gradient, clips it to norm C, sums them, adds
Gaussian noise N(0, σ²C²) per coordinate and divides by B. The privacy accountant (Rényi DP, Mironov
2017) turns (q, σ, steps) into the ε the run reports at δ (default n^-1.1: δ = 1/n is the level at
which a mechanism that publishes one random example in the clear is (0, δ)-DP, so δ must be well below
1/n to mean anything). σ is chosen before training as the smallest that keeps ε at the requested
budget (opacus's get_noise_multiplier); ε = .inf means clipping without noise (σ = 0), the same loop
with the privacy switched off.

Through opacus (Yousefpour et al. 2021): GradSampleModule computes per-example gradients (its
per-layer rules for Linear and Embedding, and for layers it has no rule for, Llama's RMSNorm, its
functorch fallback, which vmaps the layer over examples), DPOptimizer clips, noises and averages, and
RDPAccountant accounts. The loss is each example's mean NLL over its answer tokens, averaged over the
batch. The unit of privacy is one training example (one QA pair, one of its phrasings or one replayed
base document), not one author. An author whose data is in k examples is protected by group privacy
(Dwork & Roth 2014, *The Algorithmic Foundations of Differential Privacy*, Theorem 2.2 and the group
privacy lemma): an (ε, δ)-DP mechanism is (kε, k·e^{(k-1)ε}·δ)-DP for groups of k. The row reports
that author-level pair beside the per-example one, with k the most examples any one author's data is
in; where the group's δ reaches 1 there is no meaningful author-level guarantee, and the note says so.
The run seed seeds the training (Poisson sampling, noise, initial order; forms.form_seed: at run seed 0
the world seed).

What the row reports: the ε the accountant computed, the DP target's forget quality and utility with no
unlearning at all (a DP model bounds each example's influence, so it should look more like the retain
model as ε shrinks, at a price in utility), and its training cost against the ordinary target's
(`train_vs_target`: wall seconds; the FLOP counter does not see per-example gradient work). The DP
target is cached (.cache/models/dp-<hash>) and shared by every task of the world.
"""
from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch

from harness import models as MD
from harness.claim import build_once
from harness.config import ConfigError
from harness.forms import Produced, form_seed, register_form, seed_key, target_training
from harness.io import portable, stable_hash
from harness.meter import FlopMeter
from harness.progress import bar, say
from harness.schema import num
from harness.tensors import answer_logprobs, collate, label_path


@dataclass
class DPConfig:
    epsilon: float = num(8.0, gt=0, note=".inf = clipping without noise", inf_ok=True)
    delta: float = num(0.0, ge=0, lt=1, note="0 = n^-1.1, n the training examples")
    max_grad_norm: float = num(1.0, gt=0)   # C, the per-example clipping norm
    # DP-SGD's own recipe (docs/results.md: five settings measured): larger batches and fewer steps than the target's
    # 32 x 45 epochs, whose 1485 noisy AdamW steps at epsilon = 8 erased even the base model's knowledge
    epochs: int = num(10, ge=0, note="0 = the target's recipe")
    lr: float = num(0.0, ge=0, note="0 = the target's recipe")
    batch_size: int = num(128, ge=0, note="0 = the target's; the expected batch under Poisson sampling")


DELTA_EXPONENT = 1.1  # default delta = n^-1.1: below 1/n by a factor n^0.1 (1/2 at n = 1000)


def default_delta(cfg: DPConfig, n: int) -> float:
    """The δ the accountant reports ε at: `delta` when given, else n^-1.1."""
    return cfg.delta or float(n) ** -DELTA_EXPONENT


def group_privacy(epsilon: float, delta: float, k: int) -> tuple[float, float]:
    """(kε, k·e^{(k-1)ε}·δ): what an (ε, δ)-DP mechanism guarantees for a group of k examples (Dwork
    & Roth 2014, group privacy). δ is computed in log space: inf where it is beyond a float."""
    log_delta = math.log(k) + (k - 1) * epsilon + math.log(delta) if delta > 0 else -math.inf
    return k * epsilon, math.exp(log_delta) if log_delta < 700 else math.inf


def author_examples(units_of, source: str, splits: list[str], fmt, per: int) -> int | None:
    """The most training examples one unit of the family's data (an author: its QA rows and their extra
    phrasings; the replayed base corpus holds none) is in, as SISA's shards read them (the track's
    `units`). None when the data cannot be read as whole units: DP-SGD trains on it all the same, with
    no unit-level figure."""
    if len(splits) != 1:
        return None
    try:
        _, units, _ = units_of.build(source, splits, fmt, per, False, "method dp")
    except ConfigError:  # not whole authors of `per` rows
        return None
    return max(len(u.examples) for u in units) if units else None


def noise_multiplier(epsilon: float, delta: float, q: float, steps: int) -> float:
    if math.isinf(epsilon):
        return 0.0
    from opacus.accountants.utils import get_noise_multiplier
    return float(get_noise_multiplier(target_epsilon=epsilon, target_delta=delta, sample_rate=q, steps=steps,
                                      accountant="rdp"))


def dp_finetune(model, examples: list, epochs: int, lr: float, batch: int, weight_decay: float, clip: float,
                sigma: float, delta: float, seed: int, pad_id: int, progress: bool = True) -> dict:
    """DP-SGD fine-tuning in place (AdamW as the base optimiser). Returns steps, tokens, FLOPs (the
    ordinary forward and backward, without per-example gradient work), sampled batch sizes and ε."""
    from opacus import GradSampleModule
    from opacus.accountants import RDPAccountant
    from opacus.optimizers import DPOptimizer
    n = len(examples)
    q = batch / n
    steps_total = epochs * math.ceil(n / batch)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    gsm = GradSampleModule(model, batch_first=True, loss_reduction="mean")
    opt = DPOptimizer(torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay), noise_multiplier=sigma,
                      max_grad_norm=clip, expected_batch_size=batch, generator=gen)
    accountant = RDPAccountant()
    opt.attach_step_hook(accountant.get_optimizer_hook_fn(sample_rate=q))
    gsm.train()
    # opacus's hooks on the embedding (whose input, token ids, needs no gradient) make torch warn once
    warnings.filterwarnings("ignore", message="Full backward hook is firing when gradients are computed")
    tokens, sizes = 0, []
    pbar = bar(steps_total, "DP-SGD", progress)
    # per-example gradients need the full path: a checkpointed chunk would run opacus's hooks twice
    with label_path("full", 1, "cpu"), FlopMeter(model) as meter:
        for _ in range(steps_total):
            chosen = (torch.rand(n, generator=gen) < q).nonzero().flatten().tolist()  # Poisson sampling
            sizes.append(len(chosen))
            if not chosen:  # P = (1-q)^n, negligible at these sizes; the step still counts for privacy
                accountant.step(noise_multiplier=sigma, sample_rate=q)
                continue
            b = collate([examples[i] for i in chosen], pad_id)
            lp = answer_logprobs(gsm, b)
            loss = (lp.token_logps.sum(-1) / lp.lengths.clamp(min=1)).neg().mean()  # mean of per-example NLLs
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tokens += int(b["attention_mask"].sum())
            pbar.update(1)
    pbar.close()
    gsm.eval()
    gsm._close()  # hooks removed, per-example gradients dropped: `model` is a plain model again
    eps = accountant.get_epsilon(delta) if sigma > 0 else None  # None: no noise, no privacy (epsilon = inf)
    return {"steps": steps_total, "tokens": tokens, "flops": meter.total, "flops_forward": meter.forward,
            "flops_backward": meter.backward, "epsilon": eps, "delta": delta, "noise_multiplier": sigma,
            "sample_rate": q, "max_grad_norm": clip, "mean_batch": sum(sizes) / max(1, len(sizes)), "n_examples": n}


@register_form("dp")
class DP:
    kind = "dp-training"
    summary = "the target fine-tuned with DP-SGD (opacus: per-example clipping, Gaussian noise, RDP accountant)"
    requires = ("qa", "units")  # trains the target's question-answer data; group privacy by the family's units
    Config = DPConfig

    def label(self, cfg: DPConfig) -> str:
        return f"dp_eps{cfg.epsilon:g}"

    def seeded(self, cfg: DPConfig) -> bool:
        return True  # the run seed draws the Poisson batches and the noise

    def check(self, cfg: DPConfig, r, data: dict, source: str) -> None:
        if r.cfg.model.target:
            raise ConfigError("method dp trains its own target from model.base with DP-SGD: model.target does not "
                              "apply")
        try:
            import opacus  # noqa: F401
        except ImportError:
            raise ConfigError("method dp needs opacus (pip install opacus; make setup installs it)") from None

    def prepare(self, ctx) -> None:
        """Train the DP target ahead of the run (a grid worker, while the other builds other models)."""
        self._build(ctx)

    def produce(self, ctx) -> Produced:
        return self._report(ctx, self._build(ctx))

    def _plan(self, ctx) -> SimpleNamespace:
        """Everything the DP target is trained with (examples, recipe, δ, σ, seed) and where it is cached
        (keyed by all of it)."""
        r, cfg = ctx.run, ctx.run.form_cfg
        rc, source, base = r.cfg, ctx.paths["source"], ctx.paths["base"]
        recipe = rc.model.finetune
        examples = r.track.model_examples(source, r.task.splits.model_splits("target"), ctx.fmt, recipe.replay)
        n = len(examples)
        epochs, lr = cfg.epochs or recipe.epochs, cfg.lr or recipe.lr
        batch, delta = min(n, cfg.batch_size or recipe.batch_size), default_delta(cfg, n)
        steps = epochs * math.ceil(n / batch)
        sigma = noise_multiplier(cfg.epsilon, delta, batch / n, steps)
        key = stable_hash({"v": MD.TRAIN_FORMAT_VERSION, "base": base, "data": stable_hash([(e.prompt, e.answer)
                           for e in examples]), "dp": [cfg.epsilon, delta, cfg.max_grad_norm, epochs, lr, batch],
                           "wd": recipe.weight_decay, "seed": rc.world.seed, **seed_key(rc.seed)})
        return SimpleNamespace(examples=examples, n=n, epochs=epochs, lr=lr, batch=batch, delta=delta, sigma=sigma,
                               seed=form_seed(rc.world.seed, rc.seed, "dp"), key=key,
                               out=MD.cache_root() / "models" / f"dp-{key}")

    def _build(self, ctx) -> Path:
        """The DP target's folder, trained once (cached, shared by every task of the world)."""
        cfg, rc, base = ctx.run.form_cfg, ctx.run.cfg, ctx.paths["base"]
        p = self._plan(ctx)
        out = p.out

        def build() -> None:
            say(f"DP-SGD target: {p.n} examples x {p.epochs} epochs, epsilon={cfg.epsilon:g} at delta={p.delta:.2e}, "
                f"sigma={p.sigma:.3f}, C={cfg.max_grad_norm:g} -> {out}")
            model = MD.load_model(base, rc.model.dtype, rc.model.device)
            t0 = time.perf_counter()
            stats = dp_finetune(model, p.examples, p.epochs, p.lr, p.batch, rc.model.finetune.weight_decay,
                                cfg.max_grad_norm, p.sigma, p.delta, p.seed, MD.pad_id(ctx.tok), ctx.progress)
            stats["seconds"] = time.perf_counter() - t0
            stats["seed"] = p.seed
            MD.save_trained(out, model, ctx.tok, {"role": "dp_target", "key": p.key, "train": stats})
        build_once(out, out / MD.META, build)
        return out

    def _report(self, ctx, out: Path) -> Produced:
        cfg, rc = ctx.run.form_cfg, ctx.run.cfg
        t = json.loads((out / MD.META).read_text())["train"]
        model = MD.load_model(str(out), rc.model.dtype, rc.model.device)
        r, source = ctx.run, ctx.paths["source"]
        k = author_examples(r.track.units, source, r.task.splits.model_splits("target"), ctx.fmt,
                            r.track.units.per(0, source))
        info = {"epsilon_requested": None if math.isinf(cfg.epsilon) else cfg.epsilon, "epsilon": t["epsilon"],
                "delta": t["delta"], "n_examples": t.get("n_examples"),
                "noise_multiplier": t["noise_multiplier"], "max_grad_norm": t["max_grad_norm"],
                "sample_rate": t["sample_rate"], "train_s": t["seconds"], "train_flops": t["flops"],
                "dp_model": portable(out), **_author_level(t["epsilon"], t["delta"], k), **_vs_target(ctx.paths, t)}
        eps = "inf" if t["epsilon"] is None else f"{t['epsilon']:.2f}"
        note = f"DP target, no unlearning: epsilon={eps} per example at delta={t['delta']:.1e}" + _author_note(info)
        return Produced(model, ctx.fmt, info=info, note=note, save=lambda folder: model.save_pretrained(folder),
                        retrain_ratio=False)


def _author_level(epsilon: float | None, delta: float, k: int | None) -> dict:
    """The author-level guarantee of the per-example (ε, δ): author_examples (k), author_epsilon and
    author_delta by group privacy, author_delta capped at 1 (a δ of 1 promises nothing). None where
    there is no ε (no noise) or no author grouping."""
    if k is None or epsilon is None:
        return {"author_examples": k, "author_epsilon": None, "author_delta": None}
    eps_k, delta_k = group_privacy(epsilon, delta, k)
    return {"author_examples": k, "author_epsilon": eps_k, "author_delta": min(1.0, delta_k)}


def _author_note(info: dict) -> str:
    k, eps_k, delta_k = info["author_examples"], info["author_epsilon"], info["author_delta"]
    if k is None or eps_k is None:
        return ""
    if delta_k >= 1.0:
        return f"; per author ({k} examples): no meaningful author-level guarantee (group privacy gives delta >= 1)"
    return f"; per author ({k} examples): epsilon={eps_k:.2f} at delta={delta_k:.1e}"


def _vs_target(paths: dict, t: dict) -> dict:
    """The DP target's training time against the ordinary target's (seconds: the FLOP counter does not
    see per-example gradient work)."""
    ordinary = target_training(paths)
    if ordinary is None:
        return {}
    return {"target_train_s": ordinary["seconds"], "train_vs_target": t["seconds"] / ordinary["seconds"]}

