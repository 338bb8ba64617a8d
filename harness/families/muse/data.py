"""Loading MUSE-schema data (muse-bench/MUSE-News, muse-bench/MUSE-Books, the synthetic news world).

A split is named `<config>/<split>`, e.g. `raw/forget`, `knowmem/retain_qa`, `scal/forget_2`. It is read
from a local folder in the public layout, `<folder>/<config>/<split>.jsonl` (or `.json`, `.parquet`,
or the hub snapshot's `<split>-00000-of-00001.parquet`; two of these for one split are an error), or from
the hub by dataset id (`datasets.load_dataset(id, config, split=split)`; offline this is one clear line,
not a traceback).

Every split is validated on load, before any training: a missing config or split, a malformed line, a
missing or empty field, or an empty split stops with one line naming the file and the line.

Also MUSE's text conventions, as its code (swj0419/muse_bench, metrics/*.py) applies them: the KnowMem
prompt and where its answer ends, VerbMem's truth, and how a whole text is encoded to be scored.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.data import DataError, read_text
from harness.prompts import Encoded, PromptFormatter

# Fields per config, as in the public datasets.
FIELDS = {"raw": ("text",), "privleak": ("text",), "scal": ("text",), "sust": ("text",), "train": ("text",),
          "verbmem": ("prompt", "gt"), "knowmem": ("question", "answer")}


def split_ref(ref: str) -> tuple[str, str]:
    """'raw/forget' -> ('raw', 'forget'); a reference without a known config is a one-line error."""
    config, _, split = ref.partition("/")
    if not split or config not in FIELDS:
        raise DataError(f"split '{ref}': expected <config>/<split> with config one of {', '.join(FIELDS)} "
                        f"(e.g. raw/forget, knowmem/forget_qa)")
    return config, split


def _check(row, fields: tuple[str, ...], where: str) -> dict:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for f in fields:
        if f not in row:
            raise DataError(f"{where}: no field '{f}' (required: {', '.join(fields)})")
        if not isinstance(row[f], str) or not row[f].strip():
            raise DataError(f"{where}: field '{f}' must be a non-empty string")
    return row


def _read_file(path: Path, fields: tuple[str, ...]) -> list[dict]:
    if path.suffix == ".parquet":
        import pandas as pd
        try:
            rows = pd.read_parquet(path).to_dict("records")
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a bad file
            raise DataError(f"{path}: not a readable parquet file ({type(e).__name__})") from None
        return [_check(r, fields, f"{path}: row {i}") for i, r in enumerate(rows, 1)]
    text = read_text(path)
    if text.lstrip().startswith("["):  # a JSON array (the MUSE repository ships .json files)
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
        return [_check(r, fields, f"{path}: item {i}") for i, r in enumerate(rows, 1)]
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{i}: not valid JSON ({e.msg})") from None
        rows.append(_check(row, fields, f"{path}:{i}"))
    return rows


def _local_file(folder: Path, config: str, split: str) -> Path:
    sub = folder / config
    if not sub.is_dir():
        raise DataError(f"{folder}: no config folder '{config}/' (MUSE layout: <config>/<split>.jsonl)")
    # every file that could hold the split: two of them would make the choice silent, so it is an error
    found = [sub / n for n in (f"{split}.jsonl", f"{split}.json", f"{split}.parquet") if (sub / n).is_file()]
    found += sorted(p for p in sub.glob(f"{split}-*.parquet") if p.is_file())
    if len(found) == 1:
        return found[0]
    if found:
        raise DataError(f"{sub}: {len(found)} files for split '{split}': {', '.join(p.name for p in found)} "
                        f"(one file per split: which one holds it is not guessed)")
    have = sorted({p.name.split(".")[0].split("-")[0] for p in sub.iterdir() if p.is_file()})
    raise DataError(f"{sub}: no split '{split}' (.jsonl, .json or .parquet); found: {', '.join(have) or 'nothing'}")


def _read_hub(repo: str, config: str, split: str, fields: tuple[str, ...]) -> list[dict]:
    try:
        from datasets import load_dataset
        ds = load_dataset(repo, config, split=split)
    except Exception as e:  # noqa: BLE001 - datasets raises many types; all mean "not loadable"
        raise DataError(f"dataset '{repo}' config '{config}' split '{split}' could not be loaded "
                        f"({type(e).__name__}); offline, pass a local folder in the MUSE layout "
                        f"(<folder>/{config}/{split}.jsonl)") from None
    return [_check(dict(r), fields, f"{repo}:{config}/{split}: row {i}") for i, r in enumerate(ds, 1)]


def load(source: str, ref: str) -> list[dict]:
    """The rows of split `ref` ('config/split') with an 'id' '<ref>:<row index>' each; never empty."""
    config, split = split_ref(ref)
    fields = FIELDS[config]
    folder = Path(source)
    if folder.is_dir():
        path = _local_file(folder, config, split)
        rows, where = _read_file(path, fields), str(path)
    elif source.startswith(("/", ".", "~")):
        raise DataError(f"dataset folder '{source}' does not exist")
    else:
        rows, where = _read_hub(source, config, split, fields), f"{source}:{ref}"
    if not rows:
        raise DataError(f"{where}: no rows (an empty split cannot be unlearned or evaluated)")
    return [{**{f: r[f] for f in fields}, "id": f"{ref}:{i}"} for i, r in enumerate(rows)]


def qa_block(question: str, answer: str = "") -> str:
    """One question-answer pair in MUSE's KnowMem prompt format; without an answer, the open prompt."""
    return f"Question: {question}\nAnswer:" + (f" {answer}" if answer else "")


def knowmem_prompt(shots: list[dict], question: str) -> str:
    """MUSE's few-shot KnowMem prompt: the in-context pairs, then the open question, blank-line separated.
    The answer is the greedy continuation cut by knowmem_answer."""
    return "\n\n".join([qa_block(s["question"], s["answer"]) for s in shots] + [qa_block(question)])


# Where a KnowMem answer ends: where the next question-answer pair would begin (MUSE's metrics/knowmem.py,
# get_prefix_before_words_occur: cut at each of these in turn). A single line break does not end it.
ANSWER_STOPS = ("\n\n", "\nQuestion", "Question:")


def knowmem_answer(generation: str) -> str:
    """The answer in a greedy continuation of knowmem_prompt: the text before the first blank line,
    "\nQuestion" or "Question:"."""
    for stop in ANSWER_STOPS:
        generation = generation.split(stop)[0]
    return generation.strip()


def _bos(tok) -> list[int]:
    return [tok.bos_token_id] if tok.bos_token_id is not None else []


def verbmem_truth(tok, gt: str, n: int) -> str:
    """VerbMem's truth: the true continuation cut to the first n tokens the continuation may have,
    counted as MUSE's metrics/verbmem.py counts them (BOS included), so a long `gt` does not lower the
    score of a perfect continuation; a shorter one is kept as it is."""
    ids = _bos(tok) + tok(gt, add_special_tokens=False)["input_ids"]
    return gt if len(ids) <= n else tok.decode(ids[:n], skip_special_tokens=True)


@dataclass(frozen=True)
class Texts:
    """Whole texts as MUSE scores them (metrics/privleak.py: tokenizer.encode(text), every token after
    BOS scored): BOS, then the text's tokens up to max_length in all, and no EOS appended (it would add
    the same end-of-text token to every text's loss and Min-K%). Training windows keep their EOS
    (track.py, chunks). What harness.evaluate.score asks of a prompt formatter: encode."""
    tok: object
    max_length: int

    def encode(self, question: str, answer: str, group: int = 0) -> Encoded:
        bos = _bos(self.tok)
        ids = self.tok(answer, add_special_tokens=False)["input_ids"]
        return Encoded(bos, ids[:self.max_length - len(bos)], group)


def chunks(fmt: PromptFormatter, text: str, group: int = 0) -> list[Encoded]:
    """A document as training examples: every token scored, long texts cut into windows of
    eval.max_length tokens (MUSE's books run to thousands of tokens)."""
    tok = fmt.tok
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    room = fmt.max_length - len(bos)
    return [Encoded(bos, ids[i:i + room], group) for i in range(0, len(ids), room)]
