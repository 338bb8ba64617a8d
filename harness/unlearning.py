"""A run's unlearning (harness/runs.py calls it between the reference numbers and the evaluation): the
model it starts from, the forget set or each of the task's sequential requests in turn (each request
but the last evaluated at once), the unlearning curve and its chosen step, and, for a sharded model
(unlearn.fsdp), the plain model gathered back after each request. Every process of a launched run
calls it (harness/distributed.py); rank 0 alone evaluates.
"""
from __future__ import annotations

from harness import adapters, curves, sharded
from harness import distributed as dist
from harness import models as MD
from harness.config import RunConfig
from harness.progress import say
from harness.unlearn import Diverged, add_stats, unlearn


def start_model(cfg: RunConfig, start: str):
    """The model a run unlearns: the start model, with fresh adapters under LoRA."""
    return adapters.apply(MD.load_model(start, cfg.model.dtype, cfg.model.device), cfg.adapter, cfg.seed)


def unlearn_requests(r, model, tok, fmt, data, ref, progress: bool, requests: list, start: str, curve_data=None):
    """Unlearn the forget set, or each of task.requests one after another (sustainability): the
    model after request i starts request i+1, and every request but the last is evaluated at once
    (the last is the run's own evaluation). Returns the unlearning statistics summed over requests,
    and the unlearned model: `model` itself, or, when it was sharded (unlearn.fsdp), a plain copy of
    the start model holding the gathered weights (None on processes other than rank 0)."""
    cfg, track = r.cfg, r.track
    forget_sets = data.get("requests") or [data["forget"]]
    several = len(forget_sets) > 1
    total = None
    shards = sharded.active(cfg.unlearn)
    # rank 0 alone measures the curve, unless the model is sharded: then every process does, together
    # the curve measures curve_data: the held-out items of a rule that must not choose on scored ones
    rec = _recorder(r, fmt, curve_data if curve_data is not None else data) if dist.is_main() or shards else None
    if rec:
        rec.shared = shards
    for i, rows in enumerate(forget_sets):
        part = {**data, "forget": rows}
        forget, retain = track.training_sets(fmt, part)
        idk = track.refusal_set(fmt, part, cfg.seed) if "refusals" in data else None
        if idk is not None and i == 0:
            say(f"  refusals from {data['refusals_file']}")
        if several:
            say(f"  request {i + 1}/{len(forget_sets)}: {r.task.requests[i]} ({len(rows)} items)")
        if rec:
            rec.request = i + 1 if several else None
        try:
            st = unlearn(model, r.method, r.method_cfg, forget, retain, cfg.unlearn, cfg.seed + i,
                         MD.pad_id(tok), progress, idk=idk, curve=rec)
        except Diverged as e:
            e.stats = _with_curve(add_stats(total, _tagged(e.stats, i, several)), rec)
            raise
        total = add_stats(total, _tagged(st, i, several))
        if shards:  # plain again: to evaluate, save, or shard anew for the next request
            model = sharded.unsharded(model, lambda: start_model(cfg, start), everyone=i < len(forget_sets) - 1)
        if several:
            entry = {"request": i + 1, "split": r.task.requests[i], "n_forget": len(rows), "steps": total.steps,
                     "unlearn_flops": total.flops_forward + total.flops_backward}
            if rec:
                entry["selected_step"] = rec.chosen_step
            if i < len(forget_sets) - 1 and dist.is_main():  # rank 0 alone evaluates
                # requests_done: how many requests were made so far (the document track scores their items alone)
                done = {**data, "requests_done": i + 1}
                entry["metrics"] = track.evaluate(model, tok, fmt, r.task, done, ref, cfg, progress)[0]
                model.train()
            requests.append(entry)
    total.requests = requests
    return _with_curve(total, rec), model


def _recorder(r, fmt, data) -> curves.Recorder | None:
    """The unlearning curve of this run (unlearn.curve_every > 0), measured by the track's `curve`."""
    u, track = r.cfg.unlearn, r.track
    if not u.curve_every:
        return None
    return curves.Recorder(lambda m: track.curve(m, fmt, data, r.cfg, u.curve_items), u.curve_every, u.select,
                           track.curve_utility, u.select_floor)


def _with_curve(st, rec):
    if rec is not None:
        st.curve, st.curve_info = rec.points, rec.record()
    return st


def _tagged(st, i: int, several: bool):
    """Each train-log entry names its request when there are several."""
    if several:
        st.log = [{**e, "request": i + 1} for e in st.log]
    return st
