"""The other forms of unlearning as plug-ins: ways of producing the model to evaluate that are not a
loss in the unlearning loop. One module per form in this folder, registered with @register_form and
discovered automatically; a run names one with `method=<form>` and its settings with `method_args`,
exactly like a loss method, and the same track evaluates it, so every form lands on the same
leaderboard with the same metrics and compute record.

- sisa (exact unlearning, Bourtoule et al. 2021): constituents trained on disjoint shards of whole
  authors; a request retrains only the shards that held forget data (harness/forms/sisa.py);
- incontext (Pawelczyk et al. 2023, and a "pretend" instruction): the target's weights unchanged, a
  prompt policy applied by the evaluator to every question (harness/forms/incontext.py);
- dp (DP-SGD, Abadi et al. 2016, through opacus): the target trained with differential privacy and
  evaluated without any unlearning (harness/forms/dp.py).

A form is a class; the harness makes one instance. What runs.py asks of it:

    name          the name a run gives as `method=`
    kind          what the leaderboard's `form` column says: exact | in-context | dp-training
    summary       one line for `python -m harness list`
    requires      the capabilities it needs of a task family's track (harness/families/ CAPABILITIES:
                  e.g. "units", the family's units of knowledge); forms never name a family
    Config        its settings (a dataclass checked like every config: types, ranges, unknown keys)
    label(cfg) -> str                the row's name on the leaderboard (e.g. sisa_k4)
    check(cfg, r, data, source)      one-line ConfigError before any compute (e.g. more shards than authors)
    seeded(cfg) -> bool              whether the run seed changes what it produces (SISA's shards and
                                     training, DP-SGD's sampling and noise, ICUL's retain examples); a
                                     form that is not seeded (the pretend instruction) is run once,
                                     whatever seeds a grid lists
    produce(ctx) -> Produced         the model to evaluate, its prompt formatter and cost

A seeded form draws its randomness from `form_seed(world seed, run seed)`: the world seed alone at
run seed 0, so the default benchmark's forms are trained exactly as before the run seed reached them.

Optional: `prepare(ctx)` builds the form's own models ahead of its run from the base alone (a
context from base_context; grid workers call it once their runs' models are built, skipping what
another process is building). `Produced.post(metrics, ctx)`, when set, runs after evaluation and
returns the metrics, amended; the run's per-item records are `ctx.items` by then, and post may add
to them in place (the in-context form puts back the membership-inference numbers of the unchanged
weights, and their per-item scores beside the prompted ones). What a form records about itself (its
label, kind, numbers such as the accountant's epsilon, a note for the reader) is written to
form.json in the run folder, which the leaderboard reads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from harness.plugins import Registry

_REGISTRY = Registry(__name__, "unlearning form", "form")
FORMS = _REGISTRY.items
INTERFACE = ("name", "kind", "summary", "requires", "Config", "label", "check", "seeded", "produce")
register_form = _REGISTRY.register
load_forms = _REGISTRY.load
get_form = _REGISTRY.get


@dataclass
class FormContext:
    run: object          # runs.Resolved
    data: dict           # the run's data (track.load_data)
    paths: dict          # prepared models: base, target, retain, source
    ref: dict            # the track's reference numbers
    tok: object
    fmt: object          # the run's PromptFormatter
    progress: bool = True
    model: object = None  # the run's start model, already loaded (the in-context form evaluates it as is)
    items: list | None = None  # the evaluated per-item records, set before Produced.post runs


@dataclass
class Produced:
    model: object                        # what the track evaluates (a model, or an ensemble of them)
    fmt: object                          # the formatter it is evaluated with
    compute: dict = field(default_factory=dict)   # into compute.json (unlearn_s, flops_forward, ...)
    info: dict = field(default_factory=dict)      # into form.json (numbers the row reports)
    note: str = ""                                # a caveat the leaderboard shows beside the row
    save: Callable | None = None                  # folder -> None: write the model into the run folder
    post: Callable | None = None                  # (metrics, ctx) -> metrics, after evaluation
    retrain_ratio: bool = True                    # compare its unlearning cost with retraining


def form_seed(world_seed: int, run_seed: int, salt: str) -> int:
    """The seed of a seeded form's own randomness (its training, its draws): the world seed at run seed
    0, as these forms used before the run seed varied them, else a 32-bit hash of both seeds and `salt`
    (not world seed + run seed, which would give world 1 run 0 and world 0 run 1 the same training)."""
    from harness.io import stable_hash
    return world_seed if run_seed == 0 else int(stable_hash([salt, world_seed, run_seed], 8), 16)


def seed_key(run_seed: int) -> dict:
    """What a seeded form adds to the cache key of the models it trains: nothing at run seed 0 (the
    models cached before the run seed varied them are the same ones), else the run seed."""
    return {"run_seed": run_seed} if run_seed else {}


def target_training(paths: dict) -> dict | None:
    """The ordinary target's training record (seconds, FLOPs) when the harness trained it, else None:
    what the forms' own training is compared with."""
    import json
    from pathlib import Path
    from harness import models as MD
    meta = Path(paths.get("target", "")) / MD.META
    return json.loads(meta.read_text())["train"] if meta.is_file() else None


def is_form(name: str) -> bool:
    return name in load_forms()


def base_context(r, progress: bool = True) -> FormContext:
    """A context for a form's optional `prepare(ctx)`: the base model and the data source only (no
    target, retain or reference numbers), so a worker can build the form's models early."""
    from harness import models as MD
    from harness.prompts import PromptFormatter
    paths = MD.base_model(r.cfg, r.task, progress)
    tok = MD.load_tokenizer(paths["base"])
    fmt = PromptFormatter(tok, r.cfg.eval.prompt_style, r.cfg.eval.max_length)
    return FormContext(r, None, paths, None, tok, fmt, progress)
