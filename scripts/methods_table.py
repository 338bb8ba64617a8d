"""The methods table of docs/methods.md, generated from the method registry.

Each registered method gives its name, config dataclass (the defaults), supplies (whether it reads the
frozen reference model), learning rates, epochs and clipping through `@register_method`; the paper and
the loss formula come from two lines of its loss function's docstring:

    Paper: Zhang et al. 2024.
    Loss: −(2/β)·mean log σ(−β·(log π_θ − log π_ref)(y_f)) + α·NLL_mean(D_r)

The table sits between the markers `<!-- methods-table:start -->` and `<!-- methods-table:end -->`.

    python scripts/methods_table.py           # rewrite the table in docs/methods.md
    python scripts/methods_table.py --check   # exit 1 (one line) when the file is not current
"""
from __future__ import annotations

import dataclasses
import inspect
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "methods.md"
START, END = "<!-- methods-table:start -->", "<!-- methods-table:end -->"


class TableError(Exception):
    pass


def _fmt(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if value == "":
        return "''"
    return str(value)


def _rate(value: float) -> str:
    """A learning rate as written in the configs: 3e-4, 1e-2."""
    mantissa, exponent = f"{value:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def docstring_fields(fn) -> dict[str, str]:
    """The `Paper:` and `Loss:` lines of a loss function's docstring."""
    out = {}
    for line in (inspect.getdoc(fn) or "").splitlines():
        for key in ("Paper", "Loss"):
            if line.strip().startswith(f"{key}:"):
                out[key] = line.strip()[len(key) + 1:].strip()
    return out


def _defaults(config) -> str:
    parts = []
    for f in dataclasses.fields(config) if config is not None else ():
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            value = f.default_factory()  # type: ignore[misc]
        else:
            value = "required"
        parts.append(f"{f.name}={_fmt(value)}")
    return ", ".join(parts) or "–"


def _reference(method) -> str:
    from harness.registry import REFERENCE_SUPPLIES
    ref = method.needs & REFERENCE_SUPPLIES
    if not ref:
        return "no"
    if any(s.endswith("_hidden") for s in ref):
        return "yes (hidden states)"
    if any(s.endswith("_logits") for s in ref):
        return "yes (logits)"
    return "yes"


def _lr(method) -> str:
    full = "–" if method.requires_adapter else _rate(method.lr)
    lora = "–" if method.lora_lr is None else _rate(method.lora_lr)
    return f"{full} / {lora}"


def _notes(method) -> str:
    notes = []
    if method.requires_adapter:
        notes.append("LoRA only")
    if method.trainable is not None:
        notes.append("trains a subset of the weights")
    if method.init is not None:
        notes.append("set-up before the loop")
    return "; ".join(notes) or "–"


def render(methods: dict) -> str:
    """The Markdown table, one row per registered method in name order."""
    rows = ["| method | paper | loss | reference model | config defaults | lr full / LoRA | epochs "
            "| gradient clipping | notes |",
            "|---|---|---|---|---|---|---|---|---|"]
    missing = []
    for name in sorted(methods):
        m = methods[name]
        doc = docstring_fields(m.loss)
        if "Paper" not in doc or "Loss" not in doc:
            missing.append(name)
            continue
        clip = "none" if not m.max_grad_norm else _fmt(m.max_grad_norm)
        cells = [f"`{name}`", doc["Paper"], doc["Loss"], _reference(m), _defaults(m.config), _lr(m),
                 str(m.epochs), clip, _notes(m)]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if missing:
        raise TableError(f"methods without 'Paper:' and 'Loss:' lines in their loss function's docstring: "
                         f"{', '.join(missing)}")
    return "\n".join(rows)


def updated(text: str, table: str) -> str:
    """`text` with the part between the markers replaced by `table`."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise TableError(f"{DOC.relative_to(REPO)} must hold the markers {START} and {END} once, in order")
    head, rest = text.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv: list[str]) -> int:
    from harness.registry import load_methods  # the package is installed (make setup: pip install -e .)
    check = "--check" in argv
    try:
        text = DOC.read_text(encoding="utf-8")
        new = updated(text, render(load_methods()))
    except TableError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if check:
        if new != text:
            print(f"{DOC.relative_to(REPO)}: the methods table is not current; run python scripts/methods_table.py",
                  file=sys.stderr)
            return 1
        return 0
    if new != text:
        DOC.write_text(new, encoding="utf-8")
        print(f"wrote the methods table of {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
