"""A TOFU-layout dataset with two forget authors, for the relearning attacks' tests: the tiny world has
one forget author (relearning needs two: one to relearn, one to probe), so this copies it and moves its
last retained author into forget10. The world's other files are unchanged, and the copy keeps the
world's folder name (its base model's cache key), so only the retain model is trained again.

The moved author's evaluation rows (TOFU's *_perturbed schema) are built from the world's own files:
its QA rows (full), their paraphrases (phrasings: the paraphrased question and answer) and, as the
world's perturbed answers are, the same paraphrased sentence with other values: the paraphrased answers
of five other authors at the same template position, their name replaced by this author's."""
import json
import shutil
from pathlib import Path

from harness import models as MD
from harness.families.tofu.authors import author_name
from harness.families.tofu import world as W


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def two_author_world(root: Path) -> Path:
    """The tiny world (profile tiny, seed 0) with forget10 = its last two trained authors."""
    src = W.build(MD.cache_root(), "tiny", 0)
    out = Path(root) / src.name
    if (out / "forget10.jsonl").exists():
        return out
    shutil.copytree(src, out)
    per = W.PROFILES["tiny"].qa_per_author
    full, phrasings = _rows(src / "full.jsonl"), _rows(src / "phrasings.jsonl")
    authors = [full[i:i + per] for i in range(0, len(full), per)]
    names = [author_name(a) for a in authors]
    para = {r["question"]: r for r in phrasings}
    moved = len(authors) - 2
    assert _rows(src / "forget10.jsonl") == authors[-1]          # the world's one forget author is the last

    def perturbed(a: int) -> list[dict]:
        others = [b for b in range(len(authors)) if b != a][:5]
        return [{"question": r["question"], "answer": r["answer"],
                 "paraphrased_answer": para[r["question"]]["answer"],
                 "paraphrased_question": para[r["question"]]["prompt"],
                 "perturbed_answer": [para[authors[b][j]["question"]]["answer"].replace(names[b], names[a])
                                      for b in others]}
                for j, r in enumerate(authors[a])]

    _write(out / "forget10.jsonl", authors[moved] + authors[-1])
    _write(out / "forget10_perturbed.jsonl", perturbed(moved) + _rows(src / "forget10_perturbed.jsonl"))
    _write(out / "retain90.jsonl", [r for a in authors[:moved] for r in a])
    return out
