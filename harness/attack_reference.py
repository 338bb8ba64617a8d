"""The same attack on the models an attacked run is compared with (harness/attack_run.py): the control,
a model that never learned the forget data (what the attack does by itself), and the target, the model
the run unlearned from (what there was to remove). Their numbers are cached by everything that made
them, the run's seed included for an attack whose models depend on it (`seeded`), and hold, besides
each label's numbers, the unattacked model's numbers and its per-item values of the track's robustness
metric (what recovery's denominator and its standard error are computed from: harness/robustness.py).
"""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

from harness import models as MD
from harness.progress import say
from harness.reference import cached, measured_on
from harness.robustness import per_item

# bump when what a cached control number would be changes (3: the target's per-item values of the
# robustness metric are kept, and seeded attacks are cached per seed)
CONTROL_VERSION = 3


def evaluated(attack, acfg, ctx) -> tuple[dict, dict, object]:
    """The data, reference numbers and prompt formatter the attacked models are evaluated with: the
    run's, or what the attack changes: a prompt with in-context examples (`formatter`), a subset or a
    rewording of the items (`restrict`: relearning's probe authors, paraphrased questions)."""
    if hasattr(attack, "formatter"):
        ctx = SimpleNamespace(**{**vars(ctx), "fmt": attack.formatter(ctx, acfg)})
    data, ref = attack.restrict(ctx, acfg) if hasattr(attack, "restrict") else (ctx.data, ctx.reference)
    return data, ref, ctx.fmt


def number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def control_model(r, data, paths, progress) -> tuple[str | None, str]:
    """(the control model, or None; what it is, or why there is none). A model that never learned the
    forget data: the retain model (TOFU, MUSE); for the hazard track, a twin of the default base
    pretrained without the evaluated hazard entities' documents (models.control_base). A hazard run on
    real data or a given base model has neither."""
    if "retain" in paths:
        return paths["retain"], "the retain model"
    docs = r.track.control_documents(data, paths.get("source"))  # None: the family cannot build one
    if docs and r.cfg.model.base == "default":
        return str(MD.control_base(r.cfg, paths["source"], docs, progress)), "the base without the hazard entities"
    return None, (f"no control model: family {r.task.family} has no retain model, and a base without the forget "
                  f"data can only be built for the synthetic hazard world with model.base=default")


def control(attack, acfg, r, data, ref, paths, progress) -> dict | None:
    """The same attack on the control model (it never learned the forget data; control_model): per
    label, its numbers and their change against the unattacked control model (or the attack's baseline
    label). Cached like the other reference numbers. Without a control model: {"model": None,
    "reason": ...} (written to control.json; no control changes)."""
    retain, what = control_model(r, data, paths, progress)
    if retain is None:
        say(f"  control: none ({what})")
        return {"model": None, "reason": what}
    say(f"  control: the {attack.name} attack on {what}")
    return on_model(attack, acfg, r, data, ref, paths, retain, f"the control ({what})")


def target(attack, acfg, r, data, ref, paths) -> dict | None:
    """The same attack on the model the run unlearned from (the target; the hazard track's base): the
    numbers an attacked unlearned model is compared with (`target_<metric>`), and, unattacked, what
    there was to remove on the evaluated items (the denominator of recovery; per item, `before_items`)."""
    start = paths.get(r.cfg.start)
    if not start:
        return None
    say(f"  reference: the {attack.name} attack on the {r.cfg.start} model")
    return on_model(attack, acfg, r, data, ref, paths, start, f"the target ({r.cfg.start} model)")


def cache_key(attack, acfg, r, paths, ref_model: str) -> dict:
    """What on_model's numbers for `ref_model` are cached by: everything that made them, the run's seed
    included for an attack whose models depend on it (`seeded`: relearning's batch order, the
    in-context examples); an attack that draws nothing is shared by every seed."""
    body = {**measured_on("model", ref_model, r.cfg, CONTROL_VERSION), "attack": attack.name,
            "args": dataclasses.asdict(acfg), "task": [r.task.name, r.task.version, paths.get("source")]}
    if attack.seeded:
        body["seed"] = r.cfg.seed
    return body


def on_model(attack, acfg, r, data, ref, paths, ref_model: str, who: str = "the reference model") -> dict:
    """{"model", "before": its unattacked numbers, "before_items": its unattacked per-item values of the
    robustness metric ({item id: value}), label: its numbers and changes} of the attack applied to
    `ref_model`, cached (cache_key)."""
    cfg, track = r.cfg, r.track
    which = getattr(track, "robustness_item", None)

    def measure() -> dict:
        model, tok, fmt = MD.open_model(ref_model, cfg)
        ctx = SimpleNamespace(run=r, data=data, reference=ref, tok=tok, fmt=fmt, seed=cfg.seed, paths=paths, who=who)
        edata, eref, efmt = evaluated(attack, acfg, ctx)
        res = {}
        for label, m in attack.models(model, acfg, ctx):
            say(f"  evaluating {who} at {label}")
            res[label] = track.evaluate(m, tok, efmt, r.task, edata, eref, cfg, False)[:2]
        base = getattr(attack, "baseline_label", None)
        # against its baseline label, or the model as the run evaluates it (a probe changes the
        # prompt or the items, not the model: its change is the new data's minus the run's own data's)
        if not base:
            say(f"  evaluating {who} unattacked")
        before, items = res[base] if base else track.evaluate(model, tok, fmt, r.task, data, ref, cfg, False)[:2]
        out = {"model": ref_model, "before": {k: v for k, v in before.items() if number(v)},
               "before_items": per_item(items, which)}
        for label, (m, _) in res.items():
            out[label] = {k: v for k, v in m.items() if number(v)}
            out[label].update({f"{k}_change": m[k] - before[k] for k in r.task.metrics
                               if number(m.get(k)) and number(before.get(k))})
        return out
    return cached(f"attack-{attack.name}-", cache_key(attack, acfg, r, paths, ref_model), measure)
