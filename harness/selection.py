"""A sweep's selection rule: data in the sweep file, applied the same way by `harness sweep` (to pick the
setting to report) and by the leaderboard (to show, from the run folders alone, what was picked and why).

    select: {maximize: forget_quality, subject_to: ["model_utility >= 0.95 * target"]}
    select: {minimize: forget_rouge, subject_to: ["model_utility >= 0.6"]}
    select: {knee: [forget_quality, model_utility]}

- maximize / minimize: the best trial by one metric among those meeting every constraint; ties go to
  the earlier trial (the sweep's order).
- subject_to: `<metric> >= | <= <number>`, optionally `* target` or `* retain`: the bound is then that
  factor times the reference model's value of the metric on the validation data (the sweep evaluates
  the references there; selection never reads the test data).
- knee: the knee of the Pareto front of two metrics, each oriented by its declared direction (higher or
  lower), min-max normalised over the trials that meet the constraints; the knee is the front's point
  farthest from the chord joining the front's two ends on the side of the ideal corner (1, 1): the
  signed distance, as Kneedle takes the difference curve's maxima above the chord, not below it
  (Satopää et al., 2011, "Finding a 'Kneedle' in a Haystack"). A point below the chord is a dent towards
  the bad corner, never a knee: when no point lies above it, or the front has one or two points, the
  end point nearest the ideal corner is selected. Ties go to the earlier trial.
- A diverged trial (no metrics) is never selected. If no trial meets the constraints, the trial that
  misses them by the least (the sum of relative shortfalls) is selected and marked infeasible: the
  leaderboard says so rather than leaving the method out.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from harness.config import ConfigError

_CONSTRAINT = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=)\s*([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)"
                         r"\s*(?:\*\s*(target|retain))?\s*")


@dataclass(frozen=True)
class Constraint:
    metric: str
    op: str            # '>=' or '<='
    factor: float
    of: str = ""       # '' (an absolute bound), 'target' or 'retain'

    def bound(self, refs: dict) -> float | None:
        if not self.of:
            return self.factor
        v = (refs.get(self.of) or {}).get(self.metric)
        return self.factor * v if _number(v) else None

    def text(self) -> str:
        return f"{self.metric} {self.op} {self.factor:g}" + (f" x {self.of}" if self.of else "")


@dataclass(frozen=True)
class Rule:
    sense: str                      # 'max', 'min' or 'knee'
    metrics: tuple                  # (objective,) or (x, y) for the knee
    constraints: tuple = ()
    directions: tuple = ()          # knee: 'higher' / 'lower' per metric

    @property
    def references(self) -> set:
        return {c.of for c in self.constraints if c.of}

    def text(self) -> str:
        head = (f"knee of the {self.metrics[0]} / {self.metrics[1]} Pareto front" if self.sense == "knee" else
                f"{'maximise' if self.sense == 'max' else 'minimise'} {self.metrics[0]}")
        return head + (" subject to " + " and ".join(c.text() for c in self.constraints) if self.constraints else "")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def parse_rule(data, declared: dict, where: str) -> Rule:
    """The rule of a sweep file's `select:`, checked against the metrics the task declares
    ({name: MetricSpec}): an unknown metric, key or constraint is one ConfigError."""
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{where}: select: expected a mapping with maximize, minimize or knee")
    senses = [k for k in ("maximize", "minimize", "knee") if k in data]
    stray = sorted(set(data) - {"maximize", "minimize", "knee", "subject_to"})
    if stray or len(senses) != 1:
        raise ConfigError(f"{where}: select: " + (f"unknown key '{stray[0]}'" if stray else
                          "give exactly one of maximize, minimize, knee")
                          + " (keys: maximize | minimize | knee, subject_to)")

    def known(name, what):
        if not isinstance(name, str) or name not in declared:
            from harness.schema import did_you_mean
            raise ConfigError(f"{where}: select.{what}: metric '{name}' is not declared by the task"
                              + (did_you_mean(str(name), sorted(declared)) if isinstance(name, str) else "")
                              + f" (declared: {', '.join(declared)})")
        return name
    sense = senses[0]
    if sense == "knee":
        pair = data["knee"]
        if not isinstance(pair, list) or len(pair) != 2:
            raise ConfigError(f"{where}: select.knee: expected two metrics, e.g. [forget_quality, model_utility]")
        metrics = tuple(known(m, "knee") for m in pair)
        dirs = tuple(declared[m].direction for m in metrics)
        bad = [m for m, d in zip(metrics, dirs) if d not in ("higher", "lower")]
        if bad:
            raise ConfigError(f"{where}: select.knee: metric '{bad[0]}' has no higher/lower direction "
                              f"(it is {declared[bad[0]].direction}); use minimize on a derived metric instead")
    else:
        metrics, dirs = (known(data[sense], sense),), ()
    raw = data.get("subject_to") or []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: select.subject_to: expected a list of constraints")
    cons = []
    for c in raw:
        m = _CONSTRAINT.fullmatch(c) if isinstance(c, str) else None
        if not m:
            raise ConfigError(f"{where}: select.subject_to: '{c}' is not '<metric> >= <number> [* target|retain]'")
        cons.append(Constraint(known(m.group(1), "subject_to"), m.group(2), float(m.group(3)), m.group(4) or ""))
    return Rule({"maximize": "max", "minimize": "min", "knee": "knee"}[sense], metrics, tuple(cons), dirs)


def rule_from_dict(data: dict) -> Rule:
    """A rule as recorded in a run's config (already checked when the sweep was read)."""
    cons = tuple(Constraint(**c) for c in data.get("constraints", []))
    return Rule(data["sense"], tuple(data["metrics"]), cons, tuple(data.get("directions", ())))


def rule_to_dict(rule: Rule) -> dict:
    return {"sense": rule.sense, "metrics": list(rule.metrics), "directions": list(rule.directions),
            "constraints": [{"metric": c.metric, "op": c.op, "factor": c.factor, "of": c.of} for c in rule.constraints]}


@dataclass
class Selection:
    index: int | None          # into the trials; None when no trial has metrics
    feasible: bool
    n_feasible: int
    why: str


def _shortfall(rule: Rule, m: dict, refs: dict) -> float | None:
    """0 when every constraint holds, else the sum of relative shortfalls; None when unknown."""
    total = 0.0
    for c in rule.constraints:
        b, v = c.bound(refs), m.get(c.metric)
        if b is None or not _number(v):
            return None
        gap = (b - v) if c.op == ">=" else (v - b)
        total += max(0.0, gap) / max(abs(b), 1e-12)
    return total


def _knee(points: list[tuple[float, float]]) -> int:
    """Index (into points) of the knee of their Pareto front; both coordinates higher-is-better."""
    front = [i for i, (x, y) in enumerate(points)
             if not any((a >= x and b >= y) and (a > x or b > y) for a, b in points)]
    xs, ys = [p[0] for p in points], [p[1] for p in points]   # the scale of every candidate, dominated too
    span = lambda v: (min(v), (max(v) - min(v)) or 1.0)  # noqa: E731
    (x0, dx), (y0, dy) = span(xs), span(ys)
    norm = {i: ((points[i][0] - x0) / dx, (points[i][1] - y0) / dy) for i in front}
    ordered = sorted(front, key=lambda i: (norm[i][0], -norm[i][1], i))
    ends = [i for i in ordered if norm[i] in (norm[ordered[0]], norm[ordered[-1]])]   # with equal trials
    nearest = min(ends, key=lambda i: ((1 - norm[i][0]) ** 2 + (1 - norm[i][1]) ** 2, i))
    if len(ordered) <= 2:  # no chord to measure from
        return nearest
    (ax, ay), (bx, by) = norm[ordered[0]], norm[ordered[-1]]
    length = math.hypot(bx - ax, by - ay) or 1.0
    # the cross product of the chord (a -> b, x rising, y falling) with a -> p: positive on the side of
    # (1, 1), which both coordinates' being at most 1 puts there
    dist = {i: ((bx - ax) * (norm[i][1] - ay) - (by - ay) * (norm[i][0] - ax)) / length for i in ordered[1:-1]}
    above = [i for i in dist if dist[i] > 1e-12]
    return max(above, key=lambda i: (dist[i], -i)) if above else nearest


def select(rule: Rule, trials: list[dict | None], refs: dict) -> Selection:
    """Apply the rule to the trials' metrics (None: a trial without metrics), references' metrics by role."""
    scored = [(i, m) for i, m in enumerate(trials) if m and all(_number(m.get(k)) for k in rule.metrics)]
    if not scored:
        return Selection(None, False, 0, "no trial has the rule's metrics")
    short = {i: _shortfall(rule, m, refs) for i, m in scored}
    ok = [(i, m) for i, m in scored if short[i] == 0.0]
    if not ok:
        known = [i for i, _ in scored if short[i] is not None]
        if not known:
            return Selection(None, False, 0, "a constraint's reference value is missing")
        best = min(known, key=lambda i: (short[i], i))
        return Selection(best, False, 0, f"no trial meets the constraints; the nearest misses by {short[best]:.3g}")
    if rule.sense == "knee":
        sign = [1.0 if d == "higher" else -1.0 for d in rule.directions]
        pts = [(sign[0] * m[rule.metrics[0]], sign[1] * m[rule.metrics[1]]) for _, m in ok]
        pick = ok[_knee(pts)][0]
    else:
        sgn = 1.0 if rule.sense == "max" else -1.0
        pick = max(ok, key=lambda t: (sgn * t[1][rule.metrics[0]], -t[0]))[0]
    return Selection(pick, True, len(ok), f"{len(ok)} of {len(trials)} trials meet the constraints")
