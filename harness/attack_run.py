"""Running an attack (harness/attacks/) on a finished run folder.

    python -m harness attack <run folder> <attack> [key=value ...] [--force]

Everything is checked before any compute: the attack's name (did you mean), its arguments (typed and
ranged like every config), that the folder is a complete run with a saved model, and that the attack
applies to the run's task family. The run's own pipeline stages are used (harness/runs.py `inputs`: data,
models, reference numbers; the family's evaluation; the run folder's files), so an attacked model's
numbers compare directly with the run's. Results go into the run folder,
`attacks/<attack>/<label>/` (metrics.json with each number's change against the run's own,
items.jsonl, compute.json), written in one atomic rename with `status.json` last; other scalar
settings than the defaults get their own folder and list settings are merged, never replaced
(harness/attack_settings.py); a complete attack is skipped unless --force, and attacks are claimed
like runs.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from types import SimpleNamespace

import yaml

from harness import attack_reference as REF
from harness import attack_settings as AS
from harness import batch
from harness import models as MD
from harness import runs
from harness.attack_reference import number as _number
from harness.attack_settings import covers  # noqa: F401 (the settings' rule, where it has always been found)
from harness.attacks import get_attack
from harness.claim import Claim
from harness.config import ConfigError, from_dict, load_run_config, parse_overrides
from harness.io import atomic_dir, portable, read_jsonl, write_json_atomic
from harness.meter import PeakMemory
from harness.progress import say
from harness.robustness import gated_recovery, per_item, removed_with_se
from harness.families import lacks
from harness.run_folder import write_measured


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


def evaluated_model(run: Path) -> str | None:
    """The model a method=none run evaluated as is when it named one (model.evaluate: a model unlearned
    elsewhere, or a meta-evaluation pool's model): it is the model an attack on the run attacks."""
    try:
        cfg = yaml.safe_load((run / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    ref = (cfg.get("model") or {}).get("evaluate") if cfg.get("method") == "none" else None
    return ref or None


def attacked_model(run: Path) -> str:
    """The run's own unlearned model, else the model it evaluated as is."""
    return str(run / "model") if (run / "model").is_dir() else evaluated_model(run)


def unattackable(run: Path) -> tuple[str, str] | None:
    """(short reason, one-line message) why a run folder has no unlearned model to attack, or None."""
    if not run.is_dir():
        return "no such folder", f"{run}: the folder does not exist"
    status = run / "status.json"
    if not status.exists():
        return "run not complete here", f"{run}: not a complete run folder (no status.json)"
    state = json.loads(status.read_text()).get("status")
    if state != "complete":
        return state, f"{run}: the run is {state}: there is no unlearned model to attack"
    if not (run / "model").is_dir() and not evaluated_model(run):
        if weightless(run):
            return "in-context: no weights of its own", (f"{run}: an in-context run has no weights of its own (they "
                                                         f"are the target's): there is no unlearned model to attack")
        try:
            cfg = yaml.safe_load((run / "config.yaml").read_text()) or {}
        except (OSError, yaml.YAMLError):
            cfg = {}
        if cfg.get("method") == "none":
            return "reference row", (f"{run}: a reference row (method=none: the {cfg.get('start', 'start')} model as "
                                     f"it is): it unlearned nothing, there is no unlearned model to attack")
        if (cfg.get("unlearn") or {}).get("save_model") is False:
            return "no saved model", (f"{run}: no saved model: the run had unlearn.save_model=false (run it again "
                                      f"with unlearn.save_model=true to attack it)")
        return "no saved model", f"{run}: no saved model (its model folder is missing)"
    return None


def check_run(attack, acfg, r) -> None:
    """The checks that need the resolved run: the attack applies to its task family, and accepts its
    data (e.g. enough authors to split). Before any compute; one line each."""
    if missing := lacks(attack, r.track):
        raise ConfigError(f"attack {attack.name} does not apply to task family {r.task.family} (task {r.task.name}): "
                          f"it needs {'; '.join(missing)}")
    if hasattr(attack, "check"):
        source = MD.dataset_source(r.cfg, r.task)
        attack.check(acfg, runs.load_data(r, source), source, r.track)


def prepare(folder: str, name: str, args: list[str]):
    """Validate everything (no compute): (attack, its config, the resolved run, the output folder)."""
    attack, acfg = configure(name, args)
    run = Path(folder)
    why = unattackable(run)
    if why:
        raise ConfigError(why[1])
    r = runs.resolve(load_run_config(str(run / "config.yaml")))
    check_run(attack, acfg, r)
    return attack, acfg, r, run / "attacks" / AS.folder_name(attack, acfg)


def _complete(out: Path, acfg) -> bool:
    done = AS.done_settings(out)
    return done is not None and covers(done, dataclasses.asdict(acfg))


def execute(prepared: tuple, force: bool = False, progress: bool = True) -> str:
    """Run a prepared attack (prepare()'s result; its folder may be given as attacks/<name>: the
    folder of its settings is used): 'skipped' (complete with these settings, or more), 'claimed' or
    'complete'. A complete folder that lacks some of the asked labels is computed again with the
    union of its lists and the asked ones (attack_settings.merged): no label is ever lost."""
    attack, acfg, r, out = prepared
    out = out.parent / AS.folder_name(attack, acfg)
    if _complete(out, acfg) and not force:
        return "skipped"
    with Claim(out) as claim:
        if not claim.held:
            say(f"  claimed by {claim.holder}: left to it")
            return "claimed"
        if _complete(out, acfg) and not force:  # finished by another process while we looked
            return "skipped"
        done = AS.done_settings(out)
        if done is not None and not AS.same_scalars(acfg, done):
            _move_misplaced(attack, out, done)
            done = None
        if done is not None:
            acfg = AS.merged(acfg, done)
            lists = {k: v for k, v in dataclasses.asdict(acfg).items() if isinstance(v, list)}
            say(f"  {out.name} lacks some of the asked labels: computed again with {lists} (its own and the "
                f"asked ones: no label is lost)")
        _compute(attack, acfg, r, out, progress)
    return "complete"


def _move_misplaced(attack, out: Path, done: dict) -> None:
    """A complete folder whose scalar settings are not its name's (written before results were kept per
    settings) moves to the folder of its settings, unless that one exists: it is then computed again
    over, as before."""
    dest = AS.misplaced(attack, out, done)
    try:
        if dest is None or dest == out or dest.exists():
            raise OSError
        out.rename(dest)
    except OSError:
        say(f"  {out} holds other settings ({done}): computed again over it")
        return
    say(f"  {out.name} held other settings: moved to {dest.name}")


def _compute(attack, acfg, r, out: Path, progress: bool) -> None:
    cfg, track = r.cfg, r.track
    run = out.parent.parent  # out is <run folder>/attacks/<attack folder>
    say(f"attack {out.name} on {run.name}: the unlearned model, the control and the target")
    got = runs.inputs(r, progress, selection=False)  # the run's pipeline: data -> models -> reference numbers
    data, paths, ref = got.data, got.paths, got.ref
    model, tok, fmt = MD.open_model(attacked_model(run), cfg)
    who = "the unlearned model"
    ctx = SimpleNamespace(run=r, data=data, reference=ref, tok=tok, fmt=fmt, seed=cfg.seed, paths=paths, who=who)
    edata, eref, efmt = REF.evaluated(attack, acfg, ctx)
    control = REF.control(attack, acfg, r, data, ref, paths, progress)
    target = REF.target(attack, acfg, r, data, ref, paths)
    say(f"  {attack.name} on {who}")
    results, t0 = [], time.perf_counter()
    for label, attacked in attack.models(model, acfg, ctx):
        attack_s = time.perf_counter() - t0
        say(f"  evaluating {who} at {label}")
        with PeakMemory(MD.resolve_device(cfg.model.device)) as mem:
            metrics, items, cost = track.evaluate(attacked, tok, efmt, r.task, edata, eref, cfg, progress)
        # what the attack records of the model it made (e.g. the quantisation library that ran)
        results.append((label, metrics, items, {**cost, "attack_s": attack_s, **mem.record(),
                                                **getattr(attacked, "attack_record", {})}))
        say(f"  {attack.name} {label}: " + batch.headline_numbers(r.task, metrics, ".3g"))
        t0 = time.perf_counter()
    # the change each attacked model shows: against the run's own numbers, or (an attack that
    # evaluates a subset, e.g. relearning's probe authors) against its own baseline label; the
    # per-item values of the robustness metric from the same source (what the method removed)
    base = getattr(attack, "baseline_label", None)
    if base:
        before, before_items = next((m, it) for lb, m, it, _ in results if lb == base)
    else:
        before = json.loads((run / "metrics.json").read_text())
        before_items = read_jsonl(run / "items.jsonl") if (run / "items.jsonl").is_file() else []
    removed = _removed(r, per_item(before_items, getattr(track, "robustness_item", None)), target)
    with atomic_dir(out) as tmp:
        for label, metrics, items, cost in results:
            _changes(metrics, before, r.task.metrics, (control or {}).get(label))
            _against_target(metrics, before, r, (target or {}).get(label), (target or {}).get("before"), removed)
            _damage_guard(metrics, utility_metric(r.track, r.task), control, label)
            write_measured(tmp / label, metrics, items, cost)
        (tmp / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(acfg), sort_keys=False))
        # the models' paths as the run's provenance records them (io.portable)
        control, target = ({**x, "model": portable(x["model"])} if x else x for x in (control, target))
        if control is not None:
            write_json_atomic(tmp / "control.json", control)
        if target is not None:
            write_json_atomic(tmp / "target.json", target)
        write_json_atomic(tmp / "status.json", {"status": "complete", "attack": attack.name,
                                                "labels": [lb for lb, *_ in results],
                                                "control": control["model"] if control else None})


# the control keeping less than this share of its utility under the attack: the attack broke the model
DAMAGE_SHARE = 0.5


def utility_metric(track, task) -> str | None:
    """The track's utility_metric, else the task's first headline utility metric (as eligibility.py)."""
    return getattr(track, "utility_metric", None) or next(
        (m for m, s in task.metrics.items() if s.role == "utility" and s.headline), None)


def _damage_guard(metrics: dict, u: str | None, control: dict | None, label: str) -> None:
    """No recovery where the attack wrecked the control (a model that never knew the forget data): when
    its utility `u` falls below DAMAGE_SHARE of what it was, whatever the attacked models' forget
    metrics do is damage, not memory (e.g. too high a learning rate)."""
    got, was = ((control or {}).get(label) or {}).get(u), ((control or {}).get("before") or {}).get(u)
    if not (_number(got) and _number(was)) or was <= 0 or got >= DAMAGE_SHARE * was:
        return
    metrics["recovery"] = None
    metrics["recovery_note"] = (f"the attack wrecked the control: its {u} fell from {was:.3g} to {got:.3g} (below "
                                f"{DAMAGE_SHARE:g} of it), so what it does to the forget metrics is damage, not memory")


def _removed(r, mine: dict, target: dict | None) -> tuple[float | None, float | None, int]:
    """(removed, its standard error, items paired) on the track's robustness metric: the target's and
    the unlearned model's per-item values, unattacked, on the evaluated items (harness/robustness.py).
    (None, None, 0) without per-item values (a run written before its track kept them)."""
    theirs = (target or {}).get("before_items") or {}
    m = r.track.robustness_metric
    if not mine or not theirs or m not in r.task.metrics:
        return None, None, 0
    return removed_with_se(theirs, mine, r.task.metrics[m].direction, r.cfg.eval.bootstrap, r.cfg.seed)


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


def _against_target(metrics: dict, before: dict, r, target: dict | None, target_before: dict | None,
                    removed: tuple = (None, None, 0)) -> None:
    """target_<metric> (the target under the same attack) and <metric>_vs_target (the difference), and
    the run's recovery on its track's robustness metric (harness/robustness.py): with `removed` (what
    the method removed there, its standard error and how many items), None and the reason
    (`recovery_note`) when that is within noise or there is no control."""
    for k in r.task.metrics:
        if _number(metrics.get(k)) and _number((target or {}).get(k)):
            metrics[f"target_{k}"] = target[k]
            metrics[f"{k}_vs_target"] = metrics[k] - target[k]
    m = r.track.robustness_metric
    if m in r.task.metrics and target_before:
        amount, se, n = removed
        metrics["recovery"], note = gated_recovery(
            metrics.get(f"{m}_change"), metrics.get(f"control_{m}_change"), target_before.get(m), before.get(m),
            r.task.metrics[m].direction, amount, se)
        metrics["recovery_metric"] = m
        metrics.update(removed=amount, removed_se=se if se is None or se < float("inf") else None, removed_n=n)
        if note:
            metrics["recovery_note"] = note
