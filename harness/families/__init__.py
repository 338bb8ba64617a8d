"""Task families as plug-ins: one package per family in this folder (harness/families/<name>/), which
owns its whole vertical (its track, data loader, synthetic world, evaluation, statistics and units of
knowledge). The package's track class is registered with @register_track and discovered
automatically, so a new family edits no other file.

A track is a class; the harness makes one instance of it. What the pipeline (harness/runs.py), the
task loader (harness/tasks.py), the models (harness/models.py) and the leaderboard ask of it:

    name              the family name task files give as `family:`
    title             the heading of its section on the leaderboard page
    start             the model a run starts from when start=auto ("target", or "base")
    roles             the models it needs prepared ("base", "target", "retain")
    refusals          whether refusal answers to questions make sense (IdkDPO)
    worlds            {dataset name: build(cache_root, profile, seed) -> folder}: synthetic data it builds
    metrics           {name: MetricSpec}: every metric it computes, each declared once, here
    robustness_metric the forget metric whose recovery under attack scores robustness (harness/robustness.py)
    check_task(task, where)                 family-specific checks of a task file (one-line errors)
    extra_metrics(task)                     metrics that depend on the task (e.g. one per subject)
    load_data(task, source, cfg, needs_refusals)   every split a run touches, validated before training;
                                            with task.requests, data["requests"]: each request's forget rows
    training_sets(fmt, data)                the forget and retain examples of the unlearning loop
    model_examples(source, splits, fmt, replay)   (tracks with a target) what target / retain train on
    refusal_set(fmt, data, seed)            (refusals only) a refusal answer to each forget question
    reference(task, paths, data, cfg)       cached numbers of the reference model (retain / base)
    evaluate(model, tok, fmt, task, data, ref, cfg, progress) -> (metrics, items, cost)
    plots(rows, task, chance)               the page's figures for one task (inline SVG strings)

Optional (not in INTERFACE; a track without them declines, and unlearn.curve_every > 0 on its tasks is
a one-line config error before any compute):

    curve(model, fmt, data, cfg, n_items) -> {metric: value}   the unlearning curve's cheap numbers on the
                                            first n_items of its evaluation sets, teacher-forced, no
                                            generation (harness/curves.py measures it every N steps)
    curve_metrics     {name: "higher" | "lower"}: what curve() returns; unlearn.select may name these
    curve_utility     the curve metric the selection rule's floor is measured on (the utility proxy)
    curve_forget      the forget metric the page's curve plot shows
    request_metrics   (forget metric, utility metric) of the per-request plot of tasks with `requests`;
                      without it, the task's first headline forget and utility metrics
    replay_questions() -> [question]   held-out real-world questions whose answers by a pretrained base
                      model are mixed into its target's and retain model's fine-tuning when
                      model.finetune.replay is on (harness/models.py self_replay); without it, nothing

What attacks and forms ask of a family (they never name one; a capability a track leaves at the base
class's default, the plug-ins that need it decline with a one-line error naming what is missing):

    qa                question-answer items asked by generation (the paraphrase and in-context probes)
    relearn_split(data, source, who, items_per_author=0) -> units.Split
                      the forget set in two halves of whole units of knowledge (authors, events,
                      entities): the relearning attacks' relearn and probe parts
    control_documents(data, source) -> list | None
                      for a family without a retain model: the forget documents a control base is
                      pretrained without (None: no control can be built)
    units             its fine-tuning data in whole units (name, per, count, build, keys, shown;
                      tofu/authors.py AuthorUnits): SISA's shards, DP's group privacy; with blocks and
                      label, the in-context form's ICUL policy (flipped answers of whole units)
    membership(model, fmt, data, cfg) -> (records, {attack: AUC})
                      per-item membership-inference scores of the forget and holdout items: the
                      in-context form's numbers of the unchanged weights
    pretend_instruction, pretend_fill(task, data, source, items_per_author) -> {authors, topic}
                      the in-context form's pretend policy: its text and what it names

Every track subclasses Track, which holds the defaults of the optional parts; the contract test
(tests/test_tracks.py) checks every registered track defines the required ones (INTERFACE).
"""
from __future__ import annotations

from harness.plugins import Registry

_REGISTRY = Registry(__name__, "task family", "track", entry="track")  # harness/families/<name>/track.py
TRACKS = _REGISTRY.items
INTERFACE = ("name", "title", "start", "roles", "refusals", "worlds", "metrics", "robustness_metric", "check_task",
             "extra_metrics", "load_data", "training_sets", "reference", "evaluate", "plots")
register_track = _REGISTRY.register     # class decorator: @register_track("name")
load_tracks = _REGISTRY.load            # every registered track, its folder imported once per process
get_track = _REGISTRY.get               # one by name; an unknown name fails with a did-you-mean


class Track:
    """The defaults of a task family's optional parts (the required ones are in INTERFACE)."""
    refusals = False           # refusal answers to questions do not apply (documents, MCQs)
    qa = False                 # no question-answer items asked by generation
    relearn_split = None       # no split of the forget set into units: the relearning attacks decline
    units = None               # no units of its fine-tuning data: SISA and DP decline
    pretend_instruction = None  # no pretend instruction: the in-context form declines
    curve = None               # no unlearning curve: unlearn.curve_every > 0 is a config error
    selection_split = None     # no held-out items for a selection rule
    membership = None          # no per-item membership-inference scores of its own (the in-context form)

    @staticmethod
    def extra_metrics(task) -> dict:
        return {}

    @staticmethod
    def control_documents(data: dict, source: str | None):
        return None


# what a plug-in may need from a track (attacks' and forms' `requires`), for one-line refusals
CAPABILITIES = {"qa": "question-answer items asked by generation",
                "relearn_split": "a split of its forget set into whole units of knowledge (relearn_split)",
                "units": "its fine-tuning data cut into whole units of knowledge (units)",
                "pretend_instruction": "an instruction naming what to forget (pretend_instruction)"}


def lacks(plugin, track) -> list[str]:
    """What `track` lacks of what an attack or form `requires`, in words (CAPABILITIES)."""
    return [CAPABILITIES.get(c, c) for c in getattr(plugin, "requires", ()) if not getattr(track, c, None)]


def serves(plugin, track) -> bool:
    """Whether `track` has every capability the plug-in requires."""
    return not lacks(plugin, track)


def start_of(family: str) -> str:
    """The model a family's runs start from ("target", or "base"); "target" for a family this
    installation does not know (a results folder made elsewhere)."""
    track = load_tracks().get(family)
    return track.start if track is not None else "target"
