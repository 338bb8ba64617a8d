"""The meta-evaluation's model pools (harness/metaeval_cmd.py runs the procedure): built, evaluated and
attacked like every other model and run (cached, claimed, skipped when complete).

Model i of the pools (i = 1..N) is trained with recipe variant i: training seed world.seed + i, epochs and
learning rate scaled by RECIPES[(i - 1) % 8] of the task's fine-tuning recipe. The positive model of
variant i is the target fine-tuned with it (it saw the forget units), the negative one the retain model
fine-tuned with it (it never did): the two pools differ in the forget data only.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from harness.progress import say

# (epochs, learning rate) as multiples of the task's recipe, in pool order: from a full fine-tune to one
# of a tenth of its epochs. Under-trained variants are there on purpose. A model that memorised its
# fine-tuning data outright is told apart from one that never saw it by almost any metric: on the embedded
# 0.7M-parameter models every forget metric but one scored AUC 1.0 with pools of 0.25-1x the epochs. A
# faithful metric must also rank the model that learned the forget data only partly above every model
# that never saw it, and that is where metrics differ. Any pool size takes a prefix; 4 already spans
# 0.1-1x the epochs and 0.5-1.5x the rate.
RECIPES = ((1.0, 1.0), (0.1, 1.0), (0.25, 0.5), (0.5, 1.5), (1.0, 0.5), (0.25, 1.5), (0.5, 1.0), (0.1, 1.5))


def variant(cfg, i: int):
    """The run config whose models are pool variant i (1-based)."""
    ft = cfg.model.finetune
    epochs, lr = RECIPES[(i - 1) % len(RECIPES)]
    recipe = dataclasses.replace(ft, seed=cfg.world.seed + i, epochs=max(1, round(ft.epochs * epochs)), lr=ft.lr * lr)
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, finetune=recipe))


def build_pools(cfg, task, pool: int, progress: bool) -> list[dict]:
    """Train (or find) every pool model; [{label, variant, recipe, model}] in pool order."""
    from harness import models as MD
    from harness.claim import Busy, without_waiting
    variants = [variant(cfg, i) for i in range(1, pool + 1)]
    with without_waiting():  # first pass: skip what another process is training
        for v in variants:
            try:
                MD.prepare_models(v, task, progress)
            except Busy:
                continue
    out = []
    for i, v in enumerate(variants, 1):
        got = MD.prepare_models(v, task, progress)
        recipe = dataclasses.asdict(v.model.finetune)
        out += [{"label": "P", "variant": i, "recipe": recipe, "model": got["target"]},
                {"label": "N", "variant": i, "recipe": recipe, "model": got["retain"]}]
    return out


def evaluate_pools(cfg, task, members: list[dict], progress: bool) -> list[dict]:
    """Each pool model evaluated as is against the task's own models (the retain model is the reference:
    no pool model is its own); members gain run_id/folder. Run folders are named by the model evaluated
    (<task>-eval-target-<key>-... for a positive, <task>-eval-retain-<key>-... for a negative)."""
    from harness import models as MD
    from harness.batch import resolve_all, run_many
    own = MD.prepare_models(cfg, task, progress)
    where = str(Path(cfg.results_dir) / "meta_eval")
    configs = [dataclasses.replace(cfg, method="none", method_args={}, results_dir=where,
                                   model=dataclasses.replace(cfg.model, target=own["target"], retain=own["retain"],
                                                             evaluate=m["model"]))
               for m in members]
    resolved = resolve_all(configs)
    run_many(resolved, force=False, progress=progress, wait=True)
    from harness.io import portable
    for m, r in zip(members, resolved):  # paths as results record them: the file reads the same in any clone
        m.update(model=portable(m["model"]), run_id=r.run_id, folder=f"meta_eval/runs/{r.run_id}",
                 reference_retain=portable(own["retain"]))
    return members


def attack_pools(task, members: list[dict], unlearned: list[Path], attacks, results: Path, progress: bool) -> None:
    """Each pool run attacked as the task's unlearned runs were (the same attack settings, read from the
    first unlearned run's attack folder), so that the attacks' recovery numbers get a faithfulness too."""
    from harness import attack_run, runs
    from harness.attacks import get_attack
    from harness.config import from_dict, load_run_config
    for name, _ in attacks:
        attack = get_attack(name)
        settings = yaml.safe_load((unlearned[0] / "attacks" / name / "config.yaml").read_text()) or {}
        acfg = from_dict(attack.Config, settings, where=f"attack {name}")
        for i, m in enumerate(members, 1):
            folder = results / m["folder"]
            if progress:
                say(f"meta-eval {task.name}: {name} on pool model {i}/{len(members)} ({m['label']})")
            r = runs.resolve(load_run_config(str(folder / "config.yaml")))
            attack_run.check_run(attack, acfg, r)
            attack_run.execute((attack, acfg, r, folder / "attacks" / name), progress=False)
