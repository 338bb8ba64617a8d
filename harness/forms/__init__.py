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
    families      the task families it applies to
    Config        its settings (a dataclass checked like every config: types, ranges, unknown keys)
    label(cfg) -> str                the row's name on the leaderboard (e.g. sisa_k4)
    check(cfg, r, data, source)      one-line ConfigError before any compute (e.g. more shards than authors)
    produce(ctx) -> Produced         the model to evaluate, its prompt formatter and cost

Optional: `prepare(ctx)` builds the form's own models ahead of its run from the base alone (a
context from base_context; grid workers call it once their runs' models are built, skipping what
another process is building). `Produced.post(metrics, ctx)`, when set, amends the evaluated metrics
(the in-context form puts back
the membership-inference numbers of the unchanged weights). What a form records about itself (its
label, kind, numbers such as the accountant's epsilon, a note for the reader) is written to
form.json in the run folder, which the leaderboard reads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from harness.plugins import Registry

_REGISTRY = Registry(__name__, "unlearning form", "form")
FORMS = _REGISTRY.items
INTERFACE = ("name", "kind", "summary", "families", "Config", "label", "check", "produce")
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
