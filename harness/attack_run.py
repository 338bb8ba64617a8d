"""Running an attack (harness/attacks/) on a finished run folder.

    python -m harness attack <run folder> <attack> [key=value ...] [--force]

Everything is checked before any compute: the attack's name (did you mean), its arguments (typed and
ranged like every config), that the folder is a complete run with a saved model, and that the attack
applies to the run's task family. The run's own data, reference numbers and evaluation are used, so an
attacked model's numbers compare directly with the run's. Results go into the run folder,
`attacks/<attack>/<label>/` (metrics.json with each number's change against the run's own,
items.jsonl, compute.json), written in one atomic rename with `status.json` last; a complete attack is
skipped unless --force, and attacks are claimed like runs.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from types import SimpleNamespace

import yaml

from harness import models as MD
from harness import runs
from harness.attacks import get_attack, relearn_split
from harness.claim import Claim, build_once
from harness.config import ConfigError, from_dict, load_run_config, parse_overrides, to_dict
from harness.fingerprint import model_fingerprint, precision_key
from harness.io import atomic_dir, stable_hash, write_json_atomic, write_jsonl
from harness.meter import PeakMemory
from harness.progress import say
from harness.robustness import recovery
from harness.prompts import PromptFormatter

CONTROL_VERSION = 2  # bump when what a cached control number would be changes


def configure(name: str, args: list[str]):
    """(the attack, its config) from a name and key=value arguments: did you mean, types, ranges."""
    attack = get_attack(name)
    try:
        return attack, from_dict(attack.Config, parse_overrides(args), where=f"attack {name}")
    except ConfigError as e:
        raise ConfigError(f"attack {name}: {e}") from None


def weightless(run: Path) -> bool:
    """An in-context run: its weights are the target's, it has no model of its own to attack."""
    form = run / "form.json"
    return form.is_file() and json.loads(form.read_text()).get("kind") == "in-context"


def unattackable(run: Path) -> tuple[str, str] | None:
    """(short reason, one-line message) why a run folder has no unlearned model to attack, or None."""
    status = run / "status.json"
    if not status.exists():
        return "run not complete here", f"{run}: not a complete run folder (no status.json)"
    state = json.loads(status.read_text()).get("status")
    if state != "complete":
        return state, f"{run}: the run is {state}: there is no unlearned model to attack"
    if not (run / "model").is_dir():
        if weightless(run):
            return "in-context: no weights of its own", (f"{run}: an in-context run has no weights of its own (they "
                                                         f"are the target's): there is no unlearned model to attack")
        return "no saved model", f"{run}: no saved model (the run had unlearn.save_model=false)"
    return None


def check_run(attack, acfg, r) -> None:
    """The checks that need the resolved run: the attack applies to its task family, and accepts its
    data (e.g. enough authors to split). Before any compute; one line each."""
    if r.task.family not in attack.families:
        raise ConfigError(f"attack {attack.name} does not apply to task family {r.task.family} (task {r.task.name}; "
                          f"it applies to {', '.join(attack.families)})")
    if hasattr(attack, "check"):
        source = MD.dataset_source(r.cfg, r.task)
        attack.check(acfg, runs.load_data(r, source), source)


def prepare(folder: str, name: str, args: list[str]):
    """Validate everything (no compute): (attack, its config, the resolved run, the output folder)."""
    attack, acfg = configure(name, args)
    run = Path(folder)
    why = unattackable(run)
    if why:
        raise ConfigError(why[1])
    r = runs.resolve(load_run_config(str(run / "config.yaml")))
    check_run(attack, acfg, r)
    return attack, acfg, r, run / "attacks" / name


def covers(done: dict, wanted: dict) -> bool:
    """Whether a complete attack with settings `done` already holds what `wanted` asks for: the same
    settings, where a list (relearning's steps, quantisation's bits) may hold more than asked. So the
    grid's short curve is skipped after `make robustness` computed the whole one, and a longer curve
    asked later is computed (it replaces the shorter)."""
    for k, v in wanted.items():
        d = done.get(k)
        if isinstance(v, list) and isinstance(d, list):
            if not set(map(str, v)) <= set(map(str, d)):
                return False
        elif d != v:
            return False
    return True


def _complete(out: Path, acfg) -> bool:
    if not (out / "status.json").exists():
        return False
    try:
        done = yaml.safe_load((out / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return False
    return covers(done, dataclasses.asdict(acfg))


def execute(prepared: tuple, force: bool = False, progress: bool = True) -> str:
    """Run a prepared attack (prepare()'s result): 'skipped' (complete with these settings, or more),
    'claimed' or 'complete'."""
    attack, acfg, r, out = prepared
    if _complete(out, acfg) and not force:
        return "skipped"
    with Claim(out) as claim:
        if not claim.held:
            say(f"  claimed by {claim.holder}: left to it")
            return "claimed"
        if _complete(out, acfg) and not force:  # finished by another process while we looked
            return "skipped"
        if (out / "status.json").exists():
            say(f"  {out} holds other settings: computed again with {dataclasses.asdict(acfg)}")
        _compute(attack, acfg, r, out, progress)
    return "complete"


def _compute(attack, acfg, r, out: Path, progress: bool) -> None:
    cfg, track = r.cfg, r.track
    run = out.parent.parent  # out is <run folder>/attacks/<attack>
    data = runs.load_data(r)
    paths = MD.prepare_models(cfg, r.task, progress)
    ref = track.reference(r.task, paths, data, cfg)
    model = MD.load_model(str(run / "model"), cfg.model.dtype, cfg.model.device)
    tok = MD.load_tokenizer(str(run / "model"))
    fmt = PromptFormatter(tok, cfg.eval.prompt_style, cfg.eval.max_length)
    ctx = SimpleNamespace(run=r, data=data, reference=ref, tok=tok, fmt=fmt, seed=cfg.seed, paths=paths)
    edata, eref, efmt = _evaluated(attack, acfg, ctx)
    control = _control(attack, acfg, r, data, ref, paths, progress)
    target = _target(attack, acfg, r, data, ref, paths)
    results, t0 = [], time.perf_counter()
    for label, attacked in attack.models(model, acfg, ctx):
        attack_s = time.perf_counter() - t0
        with PeakMemory(MD.resolve_device(cfg.model.device)) as mem:
            metrics, items, cost = track.evaluate(attacked, tok, efmt, r.task, edata, eref, cfg, progress)
        # what the attack records of the model it made (e.g. the quantisation library that ran)
        results.append((label, metrics, items, {**cost, "attack_s": attack_s, **mem.record(),
                                                **getattr(attacked, "attack_record", {})}))
        say(f"  {attack.name} {label}: " + ", ".join(f"{k} {metrics[k]:.3g}" for k in r.task.metrics
                                                      if r.task.metrics[k].headline and k in metrics))
        t0 = time.perf_counter()
    # the change each attacked model shows: against the run's own numbers, or (an attack that
    # evaluates a subset, e.g. relearning's probe authors) against its own baseline label
    base = getattr(attack, "baseline_label", None)
    before = next(m for lb, m, _, _ in results if lb == base) if base else \
        json.loads((run / "metrics.json").read_text())
    with atomic_dir(out) as tmp:
        for label, metrics, items, cost in results:
            _changes(metrics, before, r.task.metrics, (control or {}).get(label))
            _against_target(metrics, before, r, (target or {}).get(label), (target or {}).get("before"))
            write_json_atomic(tmp / label / "metrics.json", metrics)
            write_jsonl(tmp / label / "items.jsonl", items)
            write_json_atomic(tmp / label / "compute.json", cost)
        (tmp / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(acfg), sort_keys=False))
        if control is not None:
            write_json_atomic(tmp / "control.json", control)
        if target is not None:
            write_json_atomic(tmp / "target.json", target)
        write_json_atomic(tmp / "status.json", {"status": "complete", "attack": attack.name,
                                                "labels": [lb for lb, *_ in results],
                                                "control": control["model"] if control else None})


def _evaluated(attack, acfg, ctx) -> tuple[dict, dict, object]:
    """The data, reference numbers and prompt formatter the attacked models are evaluated with: the
    run's, or what the attack changes: a prompt with in-context examples (`formatter`), a subset or a
    rewording of the items (`restrict`: relearning's probe authors, paraphrased questions)."""
    if hasattr(attack, "formatter"):
        ctx = SimpleNamespace(**{**vars(ctx), "fmt": attack.formatter(ctx, acfg)})
    data, ref = attack.restrict(ctx, acfg) if hasattr(attack, "restrict") else (ctx.data, ctx.reference)
    return data, ref, ctx.fmt


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _changes(metrics: dict, before: dict, names, control: dict | None) -> None:
    """<metric>_change against `before`; with a control, control_<metric>_change (what the attack does
    to a model that never knew) and <metric>_net_change, the difference."""
    for k in names:
        if _number(metrics.get(k)) and _number(before.get(k)):
            metrics[f"{k}_change"] = metrics[k] - before[k]
            ctl = (control or {}).get(f"{k}_change")
            if _number(ctl):
                metrics[f"control_{k}_change"] = ctl
                metrics[f"{k}_net_change"] = metrics[f"{k}_change"] - ctl


def _against_target(metrics: dict, before: dict, r, target: dict | None, target_before: dict | None) -> None:
    """target_<metric> (the target under the same attack) and <metric>_vs_target (the difference), and
    the run's recovery on its track's robustness metric (harness/robustness.py)."""
    for k in r.task.metrics:
        if _number(metrics.get(k)) and _number((target or {}).get(k)):
            metrics[f"target_{k}"] = target[k]
            metrics[f"{k}_vs_target"] = metrics[k] - target[k]
    m = r.track.robustness_metric
    if m in r.task.metrics and target_before:
        metrics["recovery"] = recovery(metrics.get(f"{m}_change"), metrics.get(f"control_{m}_change"),
                                       target_before.get(m), before.get(m), r.task.metrics[m].direction)
        metrics["recovery_metric"] = m


def _control_model(r, data, paths, progress) -> tuple[str | None, str]:
    """(the control model, or None; what it is, or why there is none). A model that never learned the
    forget data: the retain model (TOFU, MUSE); for the hazard track, a twin of the default base
    pretrained without the evaluated hazard entities' documents (models.control_base). A hazard run on
    real data or a given base model has neither."""
    if "retain" in paths:
        return paths["retain"], "the retain model"
    docs = relearn_split.hazard_documents(data, paths.get("source")) if r.task.family == "wmdp" else None
    if docs and r.cfg.model.base == "default":
        return str(MD.control_base(r.cfg, paths["source"], docs, progress)), "the base without the hazard entities"
    return None, (f"no control model: family {r.task.family} has no retain model, and a base without the forget "
                  f"data can only be built for the synthetic hazard world with model.base=default")


def _control(attack, acfg, r, data, ref, paths, progress) -> dict | None:
    """The same attack on the control model (it never learned the forget data; _control_model): per
    label, its numbers and their change against the unattacked control model (or the attack's baseline
    label). Cached like the other reference numbers. Without a control model: {"model": None,
    "reason": ...} (written to control.json; no control changes)."""
    retain, what = _control_model(r, data, paths, progress)
    if retain is None:
        say(f"  control: none ({what})")
        return {"model": None, "reason": what}
    say(f"  control: the {attack.name} attack on {what}")
    return _on_model(attack, acfg, r, data, ref, paths, retain)


def _target(attack, acfg, r, data, ref, paths) -> dict | None:
    """The same attack on the model the run unlearned from (the target; the hazard track's base): the
    numbers an attacked unlearned model is compared with (`target_<metric>`), and, unattacked, what
    there was to remove on the evaluated items (the denominator of recovery)."""
    start = paths.get(r.cfg.start)
    if not start:
        return None
    say(f"  reference: the {attack.name} attack on the {r.cfg.start} model")
    return _on_model(attack, acfg, r, data, ref, paths, start)


def _on_model(attack, acfg, r, data, ref, paths, ref_model: str) -> dict:
    """{"model", "before": its unattacked numbers, label: its numbers and changes} of the attack applied
    to `ref_model`, cached by everything that made them."""
    cfg, track = r.cfg, r.track
    key = stable_hash({"v": CONTROL_VERSION, "attack": attack.name, "args": dataclasses.asdict(acfg),
                       "model": ref_model, "weights": model_fingerprint(ref_model), "precision": precision_key(cfg),
                       "eval": to_dict(cfg.eval), "task": [r.task.name, r.task.version, paths.get("source")]})
    path = MD.cache_root() / "reference" / f"attack-{attack.name}-{key}.json"

    def measure():
        model, tok = MD.load_model(ref_model, cfg.model.dtype, cfg.model.device), MD.load_tokenizer(ref_model)
        fmt = PromptFormatter(tok, cfg.eval.prompt_style, cfg.eval.max_length)
        ctx = SimpleNamespace(run=r, data=data, reference=ref, tok=tok, fmt=fmt, seed=cfg.seed, paths=paths)
        edata, eref, efmt = _evaluated(attack, acfg, ctx)
        res = {label: track.evaluate(m, tok, efmt, r.task, edata, eref, cfg, False)[0]
               for label, m in attack.models(model, acfg, ctx)}
        base = getattr(attack, "baseline_label", None)
        # against its baseline label, or the model as the run evaluates it (a probe changes the
        # prompt or the items, not the model: its change is the new data's minus the run's own data's)
        before = res[base] if base else track.evaluate(model, tok, fmt, r.task, data, ref, cfg, False)[0]
        out = {"model": ref_model, "before": {k: v for k, v in before.items() if _number(v)}}
        for label, m in res.items():
            out[label] = {k: v for k, v in m.items() if _number(v)}
            out[label].update({f"{k}_change": m[k] - before[k] for k in r.task.metrics
                               if _number(m.get(k)) and _number(before.get(k))})
        write_json_atomic(path, out)
    build_once(path, path, measure)
    return json.loads(path.read_text())
