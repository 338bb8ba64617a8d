"""The run folder: written in one atomic rename, the status last (a folder with a status is complete).
What each file holds: docs/usage.md ("A run folder")."""
from __future__ import annotations

from pathlib import Path

import yaml

from harness import adapters
from harness.config import to_dict
from harness.io import atomic_dir, write_json_atomic, write_jsonl
from harness.provenance import provenance
from harness.tasks import resolved_yaml


def write_measured(folder: Path, metrics: dict, items: list, compute: dict) -> None:
    """What every evaluated model leaves (a run, each label of an attack): metrics.json, items.jsonl
    (one record per evaluated item) and compute.json."""
    write_json_atomic(folder / "metrics.json", metrics)
    write_jsonl(folder / "items.jsonl", items)
    write_json_atomic(folder / "compute.json", compute)


def write_run(r, model, tok, metrics, items, log, compute, extra, status, error, requests=(),
              curve=(), produced=None, warnings=(), base_changed=()) -> None:
    """Write the run folder in one atomic rename: config, task, metrics, items, log, compute,
    provenance, the model (when asked) and, last, the status that marks it complete."""
    cfg = r.cfg
    with atomic_dir(r.folder) as tmp:
        (tmp / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        (tmp / "task.yaml").write_text(resolved_yaml(r.task))
        write_measured(tmp, metrics, items, compute)
        write_jsonl(tmp / "train_log.jsonl", log)
        if requests:
            write_jsonl(tmp / "requests.jsonl", list(requests))
        if curve:
            write_jsonl(tmp / "curve.jsonl", list(curve))
        write_json_atomic(tmp / "provenance.json", provenance(cfg.seed, extra))
        if status == "complete" and r.method is not None and cfg.unlearn.save_model:
            adapters.save(model, tmp / "model", cfg.adapter, base_changed)  # + frozen weights it changed (LoKU)
            tok.save_pretrained(tmp / "model")
        if produced is not None:
            write_json_atomic(tmp / "form.json", {"form": r.form.name, "kind": r.form.kind, "label": r.form.label(
                r.form_cfg), "note": produced.note, **produced.info})
            if status == "complete" and produced.save is not None and cfg.unlearn.save_model:
                produced.save(tmp / "model")
                tok.save_pretrained(tmp / "model")
        write_json_atomic(tmp / "status.json", {"status": status, "error": error, "run_id": r.run_id,
                                                **({"warnings": list(warnings)} if warnings else {})})
