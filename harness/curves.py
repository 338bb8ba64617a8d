"""Unlearning curves: a few cheap metrics measured every `unlearn.curve_every` optimizer steps, and a
checkpoint chosen by a rule declared in the config (`unlearn.select`), never by looking at the final
evaluation.

A track offers `curve(model, fmt, data, cfg, n_items) -> {metric: value}` (teacher-forced, no
generation) and declares `curve_metrics` (name -> direction), `curve_utility` (the utility proxy the
floor is measured on) and `curve_forget` (the forget metric its plot shows). Point 0 is the start model
(after the method's set-up hook, before the first step), then every `curve_every` steps (counted over
the whole run) and each request's last step.

The rule: `last` (the model after the last step), or `max:<metric>` / `min:<metric>`: the first step
where that curve metric is best among the steps whose utility proxy is >= `select_floor` x its value at
point 0. Point 0 itself is a candidate, so the rule always has an answer (the start model, when no step
improves the metric within the floor). With several requests the rule picks within each request (its
start, i.e. the previous request's choice, included), and the next request starts from that choice.

What the curve costs (its seconds and FLOPs) is kept apart from the unlearning cost: the FLOPs its
passes add to the unlearning meter are taken out again, its seconds are subtracted from the unlearning
time, and both are recorded as curve_s / curve_flops.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from harness.config import SELECT_RULE as RULE, select_rule_syntax as rule_syntax
from harness.schema import ConfigError, did_you_mean


def parse_rule(rule: str) -> tuple[str, str | None]:
    """'last' -> ('last', None); 'max:forget_truth_ratio' -> ('max', 'forget_truth_ratio')."""
    m = RULE.fullmatch(rule)
    if m is None:
        raise ConfigError(f"config key 'unlearn.select': expected {rule_syntax(rule)}, got {rule!r}")
    return (m.group(1), m.group(2)) if m.group(1) else ("last", None)


def check(ucfg, track, task_name: str) -> None:
    """The checks that need the track (the field checks ran already): one line each, before compute."""
    has_curve = callable(getattr(track, "curve", None))
    if ucfg.curve_every and not has_curve:
        raise ConfigError(f"config key 'unlearn.curve_every': task '{task_name}' (family {track.name}) has no "
                          f"unlearning curve: set unlearn.curve_every=0")
    mode, metric = parse_rule(ucfg.select)
    if mode == "last":
        return
    if not ucfg.curve_every:
        raise ConfigError(f"config key 'unlearn.select': {ucfg.select} chooses a step of the unlearning curve, "
                          f"which is off (unlearn.curve_every=0): set unlearn.curve_every > 0 or select=last")
    names = list(track.curve_metrics)
    if metric not in names:
        raise ConfigError(f"config key 'unlearn.select': '{metric}' is not a curve metric of family {track.name}"
                          f"{did_you_mean(metric, names)} (curve metrics: {', '.join(names)})")
    if ucfg.select_on == "held_out" and not callable(getattr(track, "selection_split", None)):
        raise ConfigError(f"config key 'unlearn.select_on': family {track.name} cannot hold items out of its "
                          f"evaluation for the rule: set unlearn.select_on=evaluated (the row then says it chose "
                          f"on the scored items)")


def held_out(ucfg) -> bool:
    """Whether a run's rule chooses its step on held-out items (harness/runs.py splits the data)."""
    return ucfg.select != "last" and ucfg.select_on == "held_out"


def _local(p: torch.Tensor) -> torch.Tensor:
    """A parameter's own values: the local shard of a sharded one (a DTensor), else the tensor itself."""
    return p.to_local() if hasattr(p, "to_local") else p


def _ok(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def select(points: list[dict], rule: str, utility: str, floor: float, base: float | None = None) -> int:
    """Index of the point the rule picks. `base` is the utility proxy at point 0 of the run (default:
    points[0]'s). Candidates: points whose utility is >= floor x base; the best metric wins, the first
    of equal ones. Non-finite values are never candidates; with no candidate, the last point."""
    mode, metric = parse_rule(rule)
    if mode == "last" or not points:
        return len(points) - 1
    base = points[0].get(utility) if base is None else base
    cands = [i for i, p in enumerate(points) if _ok(p.get(metric)) and _ok(p.get(utility))
             and _ok(base) and p[utility] >= floor * base]
    if not cands:
        return len(points) - 1
    sign = 1 if mode == "max" else -1
    return max(cands, key=lambda i: (sign * points[i][metric], -i))


class Recorder:
    """The curve of one run, across its requests. `probe(model)` returns the curve metrics; unlearn()
    calls begin (after the method's set-up), after_step and end."""

    def __init__(self, probe, every: int, rule: str = "last", utility: str = "", floor: float = 0.0):
        self.probe, self.every, self.rule, self.utility, self.floor = probe, every, rule, utility, floor
        self.points: list[dict] = []
        self.seconds, self.flops = 0.0, 0
        self.offset, self.request = 0, None   # steps of earlier requests; the request tag (several only)
        self._cands: list[int] = []           # indices into points: this request's candidates
        self._best: list[torch.Tensor] | None = None
        self._keep = parse_rule(rule)[0] != "last"
        self.chosen_step: int | None = None
        self._chosen = 0                      # index of the last request's chosen point
        # a sharded model (unlearn.fsdp): every process measures (the passes gather weights together),
        # takes rank 0's numbers so that all choose alike, and keeps its own shards of the chosen step
        self.shared = False

    @property
    def base(self) -> float | None:
        return self.points[0].get(self.utility) if self.points else None

    def _measure(self, model, meter, step: int) -> dict:
        t0 = time.perf_counter()
        f0, b0 = meter.forward, meter.backward
        modes = [(m, m.training) for m in model.modules()]
        dev = next(model.parameters()).device
        # measured in eval mode (no dropout), and it must not change what unlearning does: the modes
        # are put back and no RNG draw survives it
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []), torch.no_grad():
            model.eval()
            values = self.probe(model)
        for m, training in modes:
            m.training = training
        if self.shared:
            from harness import sharded
            values = sharded.after_probe(model, values)
        self.flops += meter.forward - f0 + meter.backward - b0
        meter.forward, meter.backward = f0, b0  # the curve is not part of the unlearning cost
        point = {"step": self.offset + step, **({"request": self.request} if self.request else {}), **values,
                 "selected": False}
        self.points.append(point)
        self.seconds += time.perf_counter() - t0
        return point

    def _snapshot(self, params) -> None:
        if self._keep:  # (a sharded parameter: this process's shard)
            self._best = [_local(p.detach()).to("cpu", copy=True) for p in params]

    def begin(self, model, meter, params) -> None:
        """Point 0 of the run, or, for a later request, its start (the previous request's choice)."""
        if not self.points:
            self._measure(model, meter, 0)
            self._cands = [0]
        else:
            self._cands = [self._chosen]
        self._snapshot(params)

    def after_step(self, model, meter, params, step: int, total: int) -> None:
        if (self.offset + step) % self.every and step != total:
            return
        self._measure(model, meter, step)
        before = self._choice()
        self._cands.append(len(self.points) - 1)
        if self._choice() != before:
            self._snapshot(params)

    def _choice(self) -> int:
        pts = [self.points[i] for i in self._cands]
        return self._cands[select(pts, self.rule, self.utility, self.floor, self.base)]

    def end(self, params, steps: int) -> int:
        """Restore the chosen checkpoint's parameters (a rule other than last), mark it; returns its step."""
        chosen = self._choice()
        if self._keep and chosen != self._cands[-1]:
            with torch.no_grad():
                for p, t in zip(params, self._best):
                    _local(p).copy_(t.to(_local(p).device, p.dtype))
        self._best = None
        self.points[chosen]["selected"] = True
        self._chosen = chosen
        self.offset += steps
        self.chosen_step = self.points[chosen]["step"]
        return self.chosen_step

    def record(self) -> dict:
        """What goes into compute.json: the rule as data, the chosen step and the curve's own cost."""
        return {"curve_rule": {"select": self.rule, "floor": self.floor, "utility": self.utility,
                               "every": self.every, "base_utility": self.base},
                "selected_step": self.chosen_step, "curve_points": len(self.points),
                "curve_s": self.seconds, "curve_flops": self.flops}


def run_series(folder: Path) -> dict:
    """A run folder's curve (curve.jsonl), its rule (compute.json) and its per-request numbers
    (requests.jsonl), for the page's plots; a part is left out where its file is absent or unreadable."""
    folder, out = Path(folder), {}
    for name in ("curve", "requests"):
        try:
            out[name] = [json.loads(x) for x in (folder / f"{name}.jsonl").read_text().splitlines() if x.strip()]
        except (OSError, ValueError):
            continue
    if "curve" in out:
        try:
            out["rule"] = json.loads((folder / "compute.json").read_text()).get("curve_rule") or {}
        except (OSError, ValueError, AttributeError):
            out["rule"] = {}
    return out
