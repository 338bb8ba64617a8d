"""One run = one folder results/runs/<run_id>/, run_id derived from the resolved config's hash.

The pipeline, top to bottom: validate (harness/resolve.py) -> claim -> data -> models -> reference
numbers (`inputs`, which an attack's pipeline shares: harness/attack_run.py) -> the model to evaluate
(unlearned by a loss, harness/unlearning.py; or produced by a form, harness/forms/) -> stage
(harness/stage.py: the unlearned model is saved before evaluation) -> evaluate -> folder
(harness/run_folder.py).
Everything that can be wrong with the input (config keys, types and ranges, task,
method and its arguments, data files and columns) is checked before any model is trained or loaded.
A run is claimed (harness/claim.py) so two processes never compute it at once; the folder is
written atomically, and a folder with a status is complete and is skipped on rerun.
Launched on several processes (torchrun, accelerate launch), rank 0 does all of this and the others
only unlearn along with it (`_follow`; harness/distributed.py, docs/distributed.md).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from harness import adapters, curves, forms, sharded, stage, unlearning
from harness import distributed as dist
from harness import models as MD
from harness.claim import Claim, remove_orphans
from harness.config import ConfigError
from harness.cost import cost_record, retrain_cost
from harness.io import portable
from harness.meter import PeakMemory, matmul_params
from harness.progress import say
from harness.resolve import Resolved, model_label, resolve  # noqa: F401 (a run's public API: runs.resolve)
from harness.run_folder import write_run
from harness.tensors import label_path, label_path_name
from harness.unlearn import Diverged


def split_for_selection(r: Resolved, data: dict, source: str) -> tuple[dict, dict]:
    """(what the unlearning curve measures, what the run is scored on). The same data, unless the rule
    chooses a step on held-out items (unlearn.select_on=held_out): then the track splits its forget
    units in two (TOFU: authors; the curve gets one half and retain items the evaluation does not score,
    the evaluation the other half), so the step is never chosen on the items the run reports."""
    if not curves.held_out(r.cfg.unlearn):
        return data, data
    return r.track.selection_split(data, source, r.task.name)


def check_form(r: Resolved, data: dict) -> None:
    """The form's own checks of the run's data (e.g. more shards than authors): before any compute."""
    if r.form is not None:
        r.form.check(r.form_cfg, r, data, MD.dataset_source(r.cfg, r.task))


def load_data(r: Resolved, source: str | None = None) -> dict:
    """Every split and file the run touches, validated now (before any training)."""
    needs_refusals = bool(r.method and r.method.needs & {"idk", "ref_idk"})
    return r.track.load_data(r.task, source or MD.dataset_source(r.cfg, r.task), r.cfg, needs_refusals)


@dataclasses.dataclass
class Inputs:
    """What evaluating a model of a run needs besides the model: its data (`scored`: what it is scored
    on; `curve`: what an unlearning curve measures), the prepared models' paths and the reference
    numbers of `scored`."""
    source: str
    data: dict
    curve: dict
    scored: dict
    paths: dict
    ref: dict


def inputs(r: Resolved, progress: bool, selection: bool = True) -> Inputs:
    """The first stages of every pipeline that evaluates a model of run `r` (the run itself, an attack
    on it): data -> models -> reference numbers. `selection`: split the data for a held-out selection
    rule (the run's own evaluation); an attack scores the whole evaluation data."""
    source = MD.dataset_source(r.cfg, r.task)
    data = load_data(r, source)
    curve, scored = split_for_selection(r, data, source) if selection else (data, data)
    paths = MD.prepare_models(r.cfg, r.task, progress)
    return Inputs(source, data, curve, scored, paths, r.track.reference(r.task, paths, scored, r.cfg))


def _check_layer(method_cfg, model) -> None:
    """A method's layer index must exist in this model: checked once the model is known, before any
    unlearning step."""
    layer = getattr(method_cfg, "layer", None)
    if layer is None:
        return
    n = model.config.num_hidden_layers
    if not 0 <= layer < n:
        raise ConfigError(f"config key 'method_args.layer': {layer} is out of range; the model has {n} "
                          f"decoder layers (0..{n - 1})")


def is_complete(folder: Path) -> bool:
    return (folder / "status.json").exists()


def execute(r: Resolved, force: bool = False, progress: bool = True, wait: bool = False) -> str:
    """Run (unlearn + evaluate) and write the folder. Returns 'skipped' (complete already), 'claimed'
    (another live process is computing it), 'complete' or 'diverged'. With `wait` (a single `run` or
    `eval`), a run another process is computing is waited for instead of left to it: the command then
    ends with that run complete (or computes it, if its holder died first). Launched on several
    processes, rank 0 decides and tells the others (dist.Word), who return what it said or how their
    part ended."""
    dist.setup(MD.resolve_device(r.cfg.model.device))
    if not dist.is_main():
        return _follow(r)
    with dist.Word() as word:
        if is_complete(r.folder) and not force:
            say(f"  skipped: complete already in {r.folder} (--force computes it again)")
            word.say("skipped")
            return "skipped"
        lock_dir = r.folder.parent.parent / ".claims"
        claim = Claim(r.folder, lock_dir=lock_dir)
        claim.acquire()
        if not claim.held and wait:
            say(f"  {claim.holder} is computing this run: waiting for it")
            claim = Claim(r.folder, lock_dir=lock_dir, wait=True)
            claim.acquire()
        try:
            if not claim.held:
                say(f"  claimed by {claim.holder}: left to it")
                word.say("claimed")
                return "claimed"
            if is_complete(r.folder) and not force:  # finished by another process while we looked
                say(f"  skipped: computed by another process meanwhile, in {r.folder}")
                word.say("skipped")
                return "skipped"
            remove_orphans(r.folder)
            return _compute(r, progress, word)
        finally:
            claim.release()


def _follow(r: Resolved) -> str:
    """A process other than rank 0: unlearn along with it when it says so (same start model, same
    global batches, its own part of each), then leave evaluation and the folder to rank 0."""
    word = dist.hear()
    if word["status"] == "failed":
        raise RuntimeError(f"rank 0 stopped before unlearning: {word['error']}")
    if word["status"] != "go":  # skipped, claimed, or rank 0 goes on alone (nothing to unlearn)
        return "complete" if word["status"] == "alone" else word["status"]
    cfg = r.cfg
    data = load_data(r, word["source"])
    curve_data = split_for_selection(r, data, word["source"])[0]  # every process measures a sharded curve
    device = MD.resolve_device(cfg.model.device)
    with label_path(cfg.model.label_logprobs, cfg.model.logits_chunk, device):
        model = unlearning.start_model(cfg, word["start"])
        _, tok, fmt = MD.open_model(word["start"], cfg, load=False)
        try:
            unlearning.unlearn_requests(r, model, tok, fmt, data, None, False, [], word["start"], curve_data)
        except Diverged:
            return "diverged"
    return "complete"


def _compute(r: Resolved, progress: bool, word: dist.Word) -> str:
    cfg, track = r.cfg, r.track
    got = inputs(r, progress)
    source, data, curve_data, scored, paths, ref = got.source, got.data, got.curve, got.scored, got.paths, got.ref
    start_ref = cfg.model.evaluate or paths[cfg.start]
    device = MD.resolve_device(cfg.model.device)
    with PeakMemory(device) as mem, label_path(cfg.model.label_logprobs, cfg.model.logits_chunk, device):
        model, tok, fmt = MD.open_model(start_ref, cfg)
        _check_layer(r.method_cfg, model)
        if r.method is None:  # nothing to unlearn (a reference row, another form): rank 0 alone
            word.say("alone")
        p = next(model.parameters())
        compute = {"device": str(p.device), "dtype": str(p.dtype), "params": sum(q.numel() for q in model.parameters()),
                   "matmul_params": matmul_params(model), "unlearn_s": 0.0, "steps": 0, "tokens_forward": 0,
                   "tokens_backward": 0, "trainable_params": 0, "flops_forward": 0, "flops_backward": 0,
                   "label_logprobs": label_path_name()}
        retrain = retrain_cost(paths["retain"], MD.META, model) if "retain" in paths else None
        status, log, error, metrics, items, curve, warnings = "complete", [], None, {}, [], [], []
        requests = []  # with task.requests: the metrics after each request
        produced = ctx = None
        if r.form is not None:  # another form of unlearning makes the model to evaluate (harness/forms/)
            ctx = forms.FormContext(r, data, paths, ref, tok, fmt, progress, model)
            produced = r.form.produce(ctx)
            model, fmt = produced.model, produced.fmt
            p = next(model.parameters())
            compute.update(params=sum(q.numel() for q in model.parameters()), matmul_params=matmul_params(model),
                           **produced.compute)
        if r.method is not None:
            model = adapters.apply(model, cfg.adapter, cfg.seed)  # as unlearning.start_model builds it
            st = stage.load(r.folder, model)  # unlearned before, evaluation never finished
            word.say("alone" if st is not None else "go", start=start_ref, source=source)
            if st is not None:
                model.eval()
                requests = st.requests
                say(f"  unlearned model restored from {stage.stage_dir(r.folder)}: evaluating only")
            else:
                try:
                    st, model = unlearning.unlearn_requests(r, model, tok, fmt, data, ref, progress, requests,
                                                            start_ref, curve_data)
                    stage.save(r.folder, model, st, lora=cfg.adapter.kind == "lora")
                except Diverged as e:
                    status, error, st = "diverged", str(e), e.stats
            log, curve = st.log, st.curve
            compute.update(unlearn_s=st.seconds, steps=st.steps, tokens_forward=st.tokens_forward,
                           tokens_backward=st.tokens_backward, trainable_params=st.trainable_params,
                           flops_forward=st.flops_forward, flops_backward=st.flops_backward, processes=st.processes,
                           **st.curve_info)
            if sharded.active(cfg.unlearn):
                compute["fsdp"] = True  # unlearned sharded (harness/sharded.py)
        if status == "complete":
            say(f"  evaluating {_n_items(scored)} items of {r.task.name}")
            metrics, items, cost = track.evaluate(model, tok, fmt, r.task, scored, ref, cfg, progress)
            compute.update(cost)
            if produced is not None and produced.post is not None:
                ctx.items = items  # the per-item records the form's post hook may amend (harness/forms/__init__.py)
                metrics = produced.post(metrics, ctx)
            warnings = metrics.pop("warnings", [])  # what a reader must know (status.json, the page)
            if requests:
                requests[-1]["metrics"] = metrics  # the last request's numbers are the run's
    compute.update(mem.record(), memory_method=mem.method)
    compute.setdefault("processes", 1)  # unlearned by one process unless the stats say more
    compares = r.method is not None or (produced is not None and produced.retrain_ratio)
    compute.update(cost_record(compute, retrain if compares else None, p.device))
    # paths as portable() records them: a results folder moved to another machine still says what it means
    extra = {"models": {k: portable(v) for k, v in paths.items()}, "evaluated": portable(start_ref), "inputs": r.inputs}
    if "refusals_file" in data:
        extra["refusals_file"] = portable(data["refusals_file"])
    write_run(r, model, tok, metrics, items, log, compute, extra, status, error, requests, curve, produced, warnings,
              base_changed=st.base_changed if r.method is not None else ())
    stage.clear(r.folder)
    return status


def _n_items(data: dict) -> int:
    """The evaluation's items (every set, question sets and texts), for the progress line."""
    ev = sum(len(v) for v in (data.get("eval") or {}).values() if isinstance(v, list))
    return ev + sum(len(m.get("rows", [])) for m in (data.get("mcq") or {}).values())
