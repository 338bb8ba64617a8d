"""Every config field has a declared range, and every bad value of every field (run config, method
arguments, grid files) stops `run` with one line and exit status 2 before anything is computed."""
import math
import typing

import pytest

from harness.cli import main
from harness.config import GridSpec, RunConfig
from harness.registry import load_methods
from harness.schema import Bounds, walk_fields

# Strings whose value is an arbitrary name or path (checked later, against the file system or the hub).
FREE_TEXT = {"model.base", "model.target", "model.retain", "model.evaluate", "dataset", "unlearn.refusals",
             "method_args"}


def _types(tp):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, __import__("types").UnionType):
        return [t for a in typing.get_args(tp) for t in _types(a)]
    return [tp]


def bad_values(path, f, tp):
    """Values the field must reject, with the fragment the error line must contain."""
    kinds = _types(tp)
    bounds: Bounds | None = f.metadata.get("bounds")
    out = []
    if any(typing.get_origin(k) is typing.Literal for k in kinds):
        out.append(("surely_not_a_choice", "expected one of"))
    if bounds is not None:
        integer = int in kinds and float not in kinds
        if bounds.ge is not None:
            out.append((str(bounds.ge - 1), "expected"))
        if bounds.gt is not None:
            out.append((str(bounds.gt), "expected"))
        if bounds.le is not None:
            out.append((str(bounds.le + 1), "expected"))
        if bounds.lt is not None:
            out.append((str(bounds.lt), "expected"))
        if not integer:
            out += [("nan", "expected a finite number"), ("inf", "expected a finite number"),
                    ("-inf", "expected a finite number")]
        else:
            out.append(("1.5", "expected"))
        out.append(("abc", "expected"))
    if f.metadata.get("check") is not None:
        if list in kinds or typing.get_origin(tp) is list:
            out.append(("[]", "expected"))
        else:
            out.append(({"model.device": "gpu0", "method_args.trainable": "'(unclosed'",
                         "sweep.name": "'a b'"}.get(path, "''"), "expected"))
    if bool in kinds:
        out.append(("3", "expected bool"))
    if kinds == [str] and path not in FREE_TEXT:
        out.append(("3", "expected str"))
    return out


RUN_CASES = [(p, v, msg) for p, f, tp in walk_fields(RunConfig) for v, msg in bad_values(p, f, tp)]
METHOD_CASES = [(name, f"method_args.{p}", v, msg) for name, m in sorted(load_methods().items())
                for p, f, tp in walk_fields(m.config) for v, msg in bad_values(f"method_args.{p}", f, tp)]


def test_every_field_declares_its_valid_values():
    """A new numeric field without bounds, or a string without a choice list or check, fails here."""
    missing = []
    trees = [("", RunConfig), ("grid.", GridSpec)] + [(f"{n}.", m.config) for n, m in load_methods().items()]
    for prefix, cls in trees:
        for path, f, tp in walk_fields(cls):
            kinds = _types(tp)
            if (int in kinds or float in kinds) and "bounds" not in f.metadata:
                missing.append(prefix + path)
            literal = any(typing.get_origin(k) is typing.Literal for k in kinds)
            if kinds == [str] and not literal and "check" not in f.metadata and path not in FREE_TEXT:
                missing.append(prefix + path)
    assert not missing, f"fields without declared valid values: {missing}"
    assert len(RUN_CASES) > 60 and len(METHOD_CASES) > 20


def _one_line(capsys, argv, where):
    rc = main(argv)
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line]
    assert rc == 2, (argv, err)
    assert err and err[-1].startswith("error: ") and where in err[-1], (argv, err)
    return err[-1]


@pytest.mark.parametrize("path, value, message", RUN_CASES, ids=[f"{p}={v}" for p, v, _ in RUN_CASES])
def test_bad_run_config_value(capsys, tmp_path, path, value, message):
    extra = [] if path == "results_dir" else [f"results_dir={tmp_path}"]
    line = _one_line(capsys, ["run", f"{path}={value}", *extra], f"'{path}'")
    assert message in line
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("method, path, value, message", METHOD_CASES,
                         ids=[f"{m}:{p}={v}" for m, p, v, _ in METHOD_CASES])
def test_bad_method_argument(capsys, tmp_path, method, path, value, message):
    lora = ["adapter.kind=lora"] if load_methods()[method].requires_adapter else []
    line = _one_line(capsys, ["run", f"method={method}", f"{path}={value}", *lora, f"results_dir={tmp_path}"],
                     f"'{path}'")
    assert message in line


@pytest.mark.parametrize("text, where", [
    ("tasks: [tofu_forget10]\nseeds: [-1]\n", "seeds"),
    ("tasks: [tofu_forget10]\nadapters: [qlora]\n", "adapters"),
    ("tasks: [tofu_forget10]\nbaselines: [middle]\n", "baselines"),
    ("tasks: tofu_forget10\n", "tasks"),
    ("tasks: [tofu_forget10]\nmethods: some\n", "methods"),
])
def test_bad_grid_file_value(capsys, tmp_path, text, where):
    g = tmp_path / "g.yaml"
    g.write_text(text)
    _one_line(capsys, ["grid", str(g)], f"'{where}'")


def test_the_issue_examples(capsys, tmp_path):
    """The values that once ran silently or ended in a traceback."""
    for arg, msg in [("unlearn.max_grad_norm=-1", "expected a finite number >= 0 (0 = no clipping)"),
                     ("unlearn.max_steps=-1", "expected an integer >= 0 (0 = no cap)"),
                     ("eval.min_k=1.5", "expected a finite number in (0, 1]"),
                     ("eval.min_k=0", "expected a finite number in (0, 1]"),
                     ("eval.bootstrap=-1", "expected an integer >= 0"),
                     ("unlearn.lr=inf", "expected a finite number > 0"),
                     ("unlearn.lr=nan", "expected a finite number > 0"),
                     ("unlearn.weight_decay=-0.1", "expected a finite number >= 0"),
                     ("adapter.dropout=1.5", "expected a finite number in [0, 1)"),
                     ("eval.prompt_style=chatt", "expected one of auto, plain, chat")]:
        line = _one_line(capsys, ["run", arg, f"results_dir={tmp_path}"], arg.split("=")[0])
        assert msg in line, line
    assert math.isfinite(RunConfig().eval.min_k)
