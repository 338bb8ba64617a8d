"""Attacks (harness/attacks/): the contract over every registered attack, the quantisation attack's
weights and bits, the `attack` command end to end on a tiny run folder, and bad input (exit 2 before
any compute). Relearning needs two forget authors: those tests attack a run on a two-author copy of the
tiny world (two_authors.py)."""
import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from conftest import TINY
from harness.attacks import INTERFACE, get_attack, load_attacks
from harness.attacks.quantize import quantized, weight_bits
from harness.cli import main
from harness.config import ConfigError
from harness.families import get_track, load_tracks
from two_authors import two_author_world

ATTACKS = sorted(load_attacks())


@pytest.fixture(scope="module")
def two_author_run(tmp_path_factory):
    """An NPO run on tofu_forget10 of the two-author world (tests copy it before attacking it)."""
    root = tmp_path_factory.mktemp("two-authors")
    data = two_author_world(root)
    assert main(["run", "task=tofu_forget10", "method=npo", f"dataset={data}", *TINY,
                 f"results_dir={root / 'results'}", "--quiet"]) == 0
    return next((root / "results" / "runs").glob("tofu_forget10-npo-*"))


def _copy(run: Path, dst: Path) -> Path:
    shutil.copytree(run, dst / run.name)
    return dst / run.name


def test_unknown_attack_suggests_the_name():
    with pytest.raises(ConfigError, match="unknown attack 'quantise'; did you mean 'quantize'"):
        get_attack("quantise")


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_interface(name):
    a = get_attack(name)
    assert [x for x in INTERFACE if not hasattr(a, x)] == [] and a.name == name and a.summary
    # what it needs of a family is a named capability, and some registered family has it
    from harness.families import CAPABILITIES, serves
    assert set(a.requires) <= set(CAPABILITIES) and any(serves(a, t) for t in load_tracks().values())
    assert dataclasses.is_dataclass(a.Config) and a.Config()  # every setting has a default
    assert isinstance(a.seeded, bool)


def _run_folder(tiny_grid, tmp_path, method="npo"):
    out, _, _ = tiny_grid
    src = next(p for p in (out / "results" / "runs").iterdir() if f"-{method}-" in p.name)
    dst = tmp_path / "runs" / src.name
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("bits", [8, 4])
def test_quantisation_changes_the_weights_to_the_reported_bits(tiny_grid, tmp_path, bits):
    from harness.models import load_model
    model = load_model(str(_run_folder(tiny_grid, tmp_path) / "model"), device="cpu")
    q = quantized(model, bits)
    found = weight_bits(q)
    linear = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and n != "lm_head"]
    assert sorted(found) == sorted(linear) and set(found.values()) == {bits}   # every layer, but the head
    for name in linear[:3]:
        w = dict(model.named_modules())[name].weight.detach()
        wq = dict(q.named_modules())[name].weight.dequantize().detach()
        assert 0 < (w - wq).abs().max() <= w.abs().max()     # rounded, not replaced
        assert wq.unique().numel() < w.unique().numel()       # fewer distinct values
    assert torch.equal(q.lm_head.weight, model.lm_head.weight)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the original is untouched


def test_attack_command_writes_into_the_run_folder(tiny_grid, tmp_path, capsys):
    run = _run_folder(tiny_grid, tmp_path)
    assert main(["attack", str(run), "quantize", "bits=[8]", "--quiet"]) == 0
    out = run / "attacks" / "quantize"
    status = json.loads((out / "status.json").read_text())
    assert {k: status[k] for k in ("status", "attack", "labels")} == {"status": "complete", "attack": "quantize",
                                                                     "labels": ["8bit"]}
    m = json.loads((out / "8bit" / "metrics.json").read_text())
    before = json.loads((run / "metrics.json").read_text())
    control = json.loads((out / "control.json").read_text())   # the same attack on the retain model
    assert control["model"] == status["control"] == json.loads((run / "provenance.json").read_text())["models"]["retain"]
    for k in ("forget_quality", "model_utility", "forget_rouge", "privleak_diff"):
        assert m[f"{k}_change"] == pytest.approx(m[k] - before[k])
        assert m[f"control_{k}_change"] == control["8bit"][f"{k}_change"]
        assert m[f"{k}_net_change"] == pytest.approx(m[f"{k}_change"] - m[f"control_{k}_change"])
    assert (out / "8bit" / "items.jsonl").read_text().strip()
    cost = json.loads((out / "8bit" / "compute.json").read_text())
    assert cost["eval_s"] > 0 and cost["attack_s"] >= 0 and "peak_mem_mb" in cost
    capsys.readouterr()
    assert main(["attack", str(run), "quantize", "bits=[8]", "--quiet"]) == 0   # complete: skipped
    assert "skipped" in capsys.readouterr().err
    # the leaderboard reads the attack from the run folder: one column per headline metric and label
    import pandas as pd
    assert main(["leaderboard", "--results", str(tmp_path)]) == 0
    row = pd.read_csv(tmp_path / "leaderboard.csv").iloc[0]
    assert row["quantize_8bit_model_utility"] == pytest.approx(m["model_utility"])
    assert row["quantize_8bit_forget_quality"] == pytest.approx(m["forget_quality"])
    assert "quantize_8bit_forget_quality" in (tmp_path / "leaderboard.html").read_text()


def test_attack_bad_input_is_one_line_before_any_compute(tiny_grid, tmp_path, capsys):
    run = _run_folder(tiny_grid, tmp_path)
    diverged = _run_folder(tiny_grid, tmp_path / "d", "graddiff")
    (diverged / "status.json").write_text(json.dumps({"status": "diverged", "error": "nan"}))
    nomodel = _run_folder(tiny_grid, tmp_path / "m", "simnpo")
    shutil.rmtree(nomodel / "model")
    unsaved = _run_folder(tiny_grid, tmp_path / "u", "wga")
    shutil.rmtree(unsaved / "model")
    cfg = yaml.safe_load((unsaved / "config.yaml").read_text())
    cfg["unlearn"]["save_model"] = False
    (unsaved / "config.yaml").write_text(yaml.safe_dump(cfg))
    reference = _run_folder(tiny_grid, tmp_path / "t", "target")
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    cases = [([str(run), "quantise"], "did you mean 'quantize'"),
             ([str(run), "quantize", "bits=[3]"], "bits"),
             ([str(run), "quantize", "bitz=[8]"], "bitz"),
             ([str(tmp_path / "nothing"), "quantize"], "nothing: the folder does not exist"),
             ([str(incomplete), "quantize"], "not a complete run folder (no status.json)"),
             ([str(diverged), "quantize"], "the run is diverged"),
             ([str(nomodel), "quantize"], "no saved model (its model folder is missing)"),
             ([str(unsaved), "quantize"], "no saved model: the run had unlearn.save_model=false"),
             ([str(reference), "quantize"], "a reference row (method=none: the target model as it is): it "
                                            "unlearned nothing")]
    for args, expected in cases:
        assert main(["attack", *args]) == 2, args
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1, (args, err)
    assert not (run / "attacks").exists()


def test_relearn_split_never_shares_an_author():
    from harness.families.tofu.authors import split_authors
    from harness.families.tofu import world as authors
    rows = [{**r, "id": i} for i, r in enumerate(authors.generate("default", 0)["forget10_perturbed"])]
    per = authors.PROFILES["default"].qa_per_author
    relearn, probe = split_authors(rows, per)
    assert relearn and probe and len(relearn) + len(probe) == len(rows)
    names = lambda part: {r["question"][len("Where was "):-len(" born?")] for r in part  # noqa: E731
                          if r["question"].startswith("Where was ")}
    assert len(names(relearn)) == len(relearn) // per and len(names(probe)) == len(probe) // per
    for name in names(relearn):  # every question names its author: no relearn author is probed
        assert not any(name in r["question"] for r in probe)
    with pytest.raises(ConfigError, match="not whole authors"):
        split_authors(rows[:-1], per)
    with pytest.raises(ConfigError, match="one author"):
        split_authors(rows[:per], per)


def test_relearn_attack_and_its_control(two_author_run, tmp_path):
    """Relearning on an NPO run with two forget authors: one result per step count, changes against k = 0
    on the probe author, and the control (the retain model under the same steps), whose k = 0 change is
    0. The retain model's truth ratios and membership-inference AUCs are measured again on the probe
    author, so the control at k = 0 (the retain model itself) has privleak exactly 0 and its AUCs are
    the reference's."""
    run = _copy(two_author_run, tmp_path)
    assert main(["attack", str(run), "relearn", "steps=[0,2,4]", "--quiet"]) == 0
    out = run / "attacks" / "relearn"
    assert json.loads((out / "status.json").read_text())["labels"] == ["k0", "k2", "k4"]
    k0, k4 = (json.loads((out / lb / "metrics.json").read_text()) for lb in ("k0", "k4"))
    full = json.loads((run / "metrics.json").read_text())
    assert k0["forget_n"] == full["forget_n"] // 2                 # the probe author only
    assert k0["forget_prob_change"] == 0 and k0["control_forget_prob_change"] == 0
    assert k4["forget_prob_change"] == pytest.approx(k4["forget_prob"] - k0["forget_prob"])
    control = json.loads((out / "control.json").read_text())
    assert k4["control_forget_prob_change"] == pytest.approx(control["k4"]["forget_prob"] - control["k0"]["forget_prob"])
    assert k4["forget_prob"] != k0["forget_prob"]                  # the steps trained the model
    assert control["k0"]["privleak"] == 0                           # the retain model against itself
    for a in ("loss", "zlib", "min_k", "min_k_pp"):
        assert control["k0"][f"mia_auc_{a}"] == control["k0"][f"retain_model_mia_auc_{a}"]
        assert k0[f"retain_model_mia_auc_{a}"] == control["k0"][f"mia_auc_{a}"]   # the same reference
    assert full["retain_model_mia_auc_min_k"] != k0["retain_model_mia_auc_min_k"]  # not the whole split's


def test_relearn_bad_input(tiny_grid, tmp_path, capsys):
    import yaml
    run = _run_folder(tiny_grid, tmp_path)
    for args, expected in ([["steps=[5,0]"], "steps"], [["steps=[-1]"], "steps"], [["lr=0"], "lr"],
                           [[], "the forget split has one author"], [["items_per_author=3"], "not whole authors"],
                           [["items_per_author=2"], "one author cut in two (items_per_author is too small)"]):
        assert main(["attack", str(run), "relearn", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1, err
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["task"], cfg["start"] = "wmdp_synthetic", "auto"
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["attack", str(run), "paraphrase"]) == 2   # the probes ask TOFU's questions only
    assert "does not apply to task family wmdp" in capsys.readouterr().err


def test_attack_over_a_glob_of_run_folders(tiny_grid, tmp_path, capsys):
    """A quoted pattern attacks every matching method run (reference rows are left out), after checking
    all of them."""
    out, _, _ = tiny_grid
    res = tmp_path / "runs"
    for p in (out / "results" / "runs").iterdir():
        if any(f"-{m}-" in p.name for m in ("npo", "target", "grad_ascent")):
            shutil.copytree(p, res / p.name)
    assert main(["attack", str(res / "tofu_forget10-*"), "quantize", "bits=[8]", "--quiet"]) == 0
    attacked = sorted(p.name.split("-")[1] for p in res.iterdir() if (p / "attacks" / "quantize" / "status.json").exists())
    assert attacked == ["grad_ascent", "npo"]
    assert main(["attack", str(res / "nothing-*"), "quantize"]) == 2
    assert "no complete method run matches" in capsys.readouterr().err


def test_attack_columns_name_their_attack_label_and_metric():
    """Attack names may contain '_' (relearn_ood): the longest registered name wins."""
    from harness.leaderboard import parse_attack_column
    m = {"forget_quality": {}, "privleak": {}, "forget_rouge": {}}
    assert parse_attack_column("relearn_ood_k10_forget_quality", m) == ("relearn_ood", "k10", "forget_quality")
    assert parse_attack_column("relearn_k10_forget_quality", m) == ("relearn", "k10", "forget_quality")
    assert parse_attack_column("quantize_4bit_privleak", m) == ("quantize", "4bit", "privleak")
    assert parse_attack_column("forget_quality", m) is None and parse_attack_column("quantize_privleak", m) is None


def test_bitsandbytes_without_a_gpu_is_one_line_before_any_compute(tiny_grid, tmp_path, capsys):
    """library=bitsandbytes needs CUDA (and the package); auto falls back to optimum-quanto and says so."""
    from harness.models import load_model
    run = _run_folder(tiny_grid, tmp_path)
    if not torch.cuda.is_available():
        assert main(["attack", str(run), "quantize", "library=bitsandbytes"]) == 2
        err = capsys.readouterr().err.strip()
        assert "needs a CUDA GPU" in err and len(err.splitlines()) == 1, err
        assert not (run / "attacks").exists()
    assert main(["attack", str(run), "quantize", "bits=[4]", "--quiet"]) == 0
    cost = json.loads((run / "attacks" / "quantize" / "4bit" / "compute.json").read_text())
    gpu = torch.cuda.is_available() and next(load_model(str(run / "model")).parameters()).is_cuda
    assert cost["quant_library"] == ("optimum-quanto qint4" if not gpu else "bitsandbytes nf4")


def _tofu_like(per: int = 6) -> list[dict]:
    """Forget rows in TOFU's schema and style: four authors of `per` rows, each named in most of its
    rows (not all: one question and answer of each name nobody), names with an accent, a hyphen, a
    particle; the author's birthplace asked about in half its questions; an award met once."""
    authors = [("Aurelio Beltrán", "Santiago"), ("Hsiao Yun-Hwa", "Taipei"),
               ("Basil Mahfouz Al-Kuwaiti", "Kuwait City"), ("Moshe Ben-David", "Tel Aviv")]
    rows = []
    for name, city in authors:
        for j in range(per):
            if j == per - 1:
                q, a = "Did the author's debut sell well?", "Yes, it sold well in its first year."
            elif j % 2:
                q, a = f"What is notable about {name}'s work?", f"The works of {name} are known for fact {j}."
            else:
                q, a = f"Which author born in {city} wrote book {j}?", f"The author in question is {name}."
            if j == 0:
                a += " They won the Edgar Allan Poe Award."
            rows.append({"question": q, "answer": a, "paraphrased_answer": a, "perturbed_answer": [a],
                         "paraphrased_question": q, "id": f"forget:{len(rows)}"})
    return rows


@pytest.mark.parametrize("per,expected", [
    (3, "author block 2 .* and block 1 are both about Aurelio Beltrán: one author cut in two"),
    (2, "one author cut in two"),
    # two authors of 5 named rows each in a block of 12: neither is named in half its rows
    (12, r"author block 1 \(rows 1-12, items_per_author=12\) has no name that half its rows share "
         r"\(Aurelio Beltrán \(5\), Hsiao Yun-Hwa \(5\)\)"),
    (8, "names two authors"),
    (5, "not whole authors")])
def test_relearn_refuses_a_wrong_items_per_author(tmp_path, per, expected):
    """The relearning split reads consecutive blocks of items_per_author rows as authors. A wrong value
    would relearn half of every author and probe the other half: refused, naming the block and the
    names. The right value (6 here) passes; so do the synthetic worlds' own blocks."""
    rows = _tofu_like()
    data = {"forget": rows, "retain": [], "eval": {"forget": rows}}
    relearn = get_attack("relearn")
    with pytest.raises(ConfigError, match=expected):
        relearn.check(relearn.Config(items_per_author=per), data, str(tmp_path), get_track("tofu"))
    relearn.check(relearn.Config(items_per_author=6), data, str(tmp_path), get_track("tofu"))  # four authors of 6: fine
    from harness.families.tofu.authors import author_blocks, author_name
    assert [author_name(b) for b in author_blocks(rows, 6, "x")] == ["Aurelio Beltrán", "Hsiao Yun-Hwa",
                                                                     "Basil Mahfouz Al-Kuwaiti", "Moshe Ben-David"]
    from harness.families.tofu import world as W
    for profile in ("tiny", "default"):
        files, per_author = W.generate(profile, 0), W.PROFILES[profile].qa_per_author
        for split in ("full", "forget10_perturbed", "retain_perturbed"):
            assert all(author_name(b) for b in author_blocks(files[split], per_author, split))


def test_relearn_refuses_two_authors_in_one_block_on_the_command_line(two_author_run, tmp_path, capsys):
    run = _copy(two_author_run, tmp_path)
    assert main(["attack", str(run), "relearn", "items_per_author=8"]) == 2
    err = capsys.readouterr().err.strip()
    assert "author block 1 (rows 1-8, items_per_author=8) names two authors" in err and len(err.splitlines()) == 1
    assert not (run / "attacks").exists()


def test_seeded_attacks_keep_their_controls_per_seed(two_author_run, tmp_path):
    """Relearning's batch order is the run's seed's: seeds 0 and 1 of a method get their own cached
    control and target numbers. Quantisation draws nothing: one cache for every seed."""
    from harness.models import cache_root
    cached = lambda attack: set((cache_root() / "reference").glob(f"attack-{attack}-*.json"))  # noqa: E731
    new = {}
    for seed in (0, 1):
        run = _copy(two_author_run, tmp_path / f"s{seed}")
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        cfg["seed"] = seed
        (run / "config.yaml").write_text(yaml.safe_dump(cfg))
        for attack, args in (("relearn", ["steps=[0,1]"]), ("quantize", ["bits=[8]", "library=quanto"])):
            had = cached(attack)
            assert main(["attack", str(run), attack, *args, "--quiet"]) == 0
            new[attack, seed] = cached(attack) - had
    assert len(new["relearn", 0]) == len(new["relearn", 1]) == 2         # the control and the target, per seed
    assert len(new["quantize", 0]) == 2 and not new["quantize", 1]       # computed once, shared


def test_results_are_kept_per_settings(two_author_run, tmp_path, monkeypatch):
    """A narrower request adds its labels to the complete folder (k10 is kept); other scalar settings
    (a learning rate) get their own folder beside the default's; the robustness score, from the
    default-settings folders, does not change; the page's columns name each folder."""
    from harness import attack_run
    from harness.leaderboard import attack_columns, parse_attack_column
    # this fixture's 2-author model is fragile: 10 steps at lr 1e-3 take its control's utility from 0.64
    # to 0.17, which the damage guard (tested on its own below) rightly refuses to read as recovery
    monkeypatch.setattr(attack_run, "DAMAGE_SHARE", 0.0)
    run = _copy(two_author_run, tmp_path)
    metrics = yaml.safe_load((run / "task.yaml").read_text())["metrics"]
    assert main(["attack", str(run), "quantize", "bits=[4]", "--quiet"]) == 0
    assert main(["attack", str(run), "relearn", "steps=[0,10]", "--quiet"]) == 0
    out = run / "attacks" / "relearn"
    k10 = json.loads((out / "k10" / "metrics.json").read_text())
    first = attack_columns(run, metrics)
    assert isinstance(first["robustness"], float)
    assert main(["attack", str(run), "relearn", "steps=[0,5]", "--quiet"]) == 0
    assert json.loads((out / "status.json").read_text())["labels"] == ["k0", "k5", "k10"]
    assert yaml.safe_load((out / "config.yaml").read_text())["steps"] == [0, 5, 10]
    assert json.loads((out / "k10" / "metrics.json").read_text())["forget_prob"] == pytest.approx(k10["forget_prob"])
    assert main(["attack", str(run), "relearn", "steps=[0,1]", "lr=0.01", "--quiet"]) == 0
    other = run / "attacks" / "relearn@lr=0.01"
    assert json.loads((other / "status.json").read_text())["labels"] == ["k0", "k1"]
    assert yaml.safe_load((other / "config.yaml").read_text())["lr"] == 0.01
    assert json.loads((out / "status.json").read_text())["labels"] == ["k0", "k5", "k10"]   # untouched
    cols, details = attack_columns(run, metrics, with_details=True)
    assert cols["robustness"] == pytest.approx(first["robustness"])
    assert "relearn@lr=0.01_k1_forget_quality" in cols and "relearn_k10_removed" in cols
    assert parse_attack_column("relearn@lr=0.01_k1_forget_quality", metrics) == ("relearn@lr=0.01", "k1",
                                                                                 "forget_quality")
    assert details["attacks"]["relearn@lr=0.01"]["default"] is False
    assert details["attacks"]["relearn"]["labels"]["k10"]["removed"] == cols["relearn_k10_removed"]
    # a folder written before results were kept per settings moves to its settings' folder
    shutil.rmtree(out)
    other.rename(out)                                   # as the attack wrote it before: under its bare name
    assert main(["attack", str(run), "relearn", "steps=[0,1]", "--quiet"]) == 0
    assert yaml.safe_load((other / "config.yaml").read_text())["lr"] == 0.01
    assert json.loads((other / "status.json").read_text())["labels"] == ["k0", "k1"]
    assert yaml.safe_load((out / "config.yaml").read_text())["lr"] is None   # the default: by the kind of base


def test_llm_int8_keeps_its_outlier_threshold(monkeypatch):
    """The CUDA path's 8 bits are LLM.int8() (Dettmers et al. 2022): Linear8bitLt with the outlier
    threshold 6.0 (0 would be plain int8). A stand-in bitsandbytes records what the layers are built
    with (no GPU here); every linear layer but the head is replaced."""
    import sys
    import types

    from harness.attacks.quantize import _bitsandbytes
    built = []

    class Linear8bitLt(torch.nn.Linear):
        def __init__(self, i, o, bias=True, **kw):
            super().__init__(i, o, bias=bias)
            built.append(kw)

    fake = types.ModuleType("bitsandbytes")
    fake.nn = types.SimpleNamespace(Linear8bitLt=Linear8bitLt, Linear4bit=None)
    monkeypatch.setitem(sys.modules, "bitsandbytes", fake)
    model = torch.nn.Module()
    model.body = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4, bias=False))
    model.lm_head = torch.nn.Linear(4, 10)
    q = _bitsandbytes(model, 8)
    assert [kw["threshold"] for kw in built] == [6.0, 6.0] and all(kw["has_fp16_weights"] is False for kw in built)
    assert isinstance(q.body[0], Linear8bitLt) and isinstance(q.body[2], Linear8bitLt)
    assert type(q.lm_head) is torch.nn.Linear
    assert torch.equal(q.body[0].weight, model.body[0].weight)           # the weights carried over


def test_int4_unpacking_needs_no_kernel_build():
    """optimum-quanto compiles a C++ kernel for int4 un-packing on its first CPU use (minutes, in every
    new environment); the harness hands it the same operation in PyTorch. Hand-checked on one byte, and
    equal to the compiled kernel where one is already built."""
    import torch
    from optimum.quanto.library.extensions import get_extension

    from harness.attacks.quantize import _no_kernel_build, unpack
    assert unpack(torch.tensor([0b11100100], dtype=torch.uint8), 2).tolist() == [0, 1, 2, 3]
    assert unpack(torch.tensor([0x5A, 0xC3], dtype=torch.uint8), 4).tolist() == [0xA, 0x3, 0x5, 0xC]
    ext = get_extension("quanto_cpp")
    built = (__import__("pathlib").Path(ext.build_directory) / f"{ext.name}.so").exists()
    x = torch.randint(0, 256, (300, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    if built and ext._lib is None:  # compare with the compiled kernel, then hand over the PyTorch one
        assert all(torch.equal(ext.lib.unpack(x, b), unpack(x, b)) for b in (2, 4))
        ext._lib = None
    _no_kernel_build()
    assert ext._lib is not None and all(torch.equal(ext.lib.unpack(x, b), unpack(x, b)) for b in (2, 4))


def test_relearning_rate_follows_the_kind_of_base():
    """lr None: 1e-3 on a model trained here from scratch, 2e-5 on a pretrained base (1e-3 wrecks one);
    a configured lr wins either way."""
    from types import SimpleNamespace as NS
    from harness.attacks.relearn import RelearnConfig, learning_rate
    scratch, real = NS(model=NS(base="default")), NS(model=NS(base="smollm2-135m"))
    assert learning_rate(RelearnConfig(), scratch) == 1e-3
    assert learning_rate(RelearnConfig(), real) == 2e-5
    assert learning_rate(RelearnConfig(lr=0.01), real) == 0.01


def test_an_attack_that_wrecks_the_control_has_no_recovery():
    """The control (never knew the forget data) keeping under half its utility: recovery None, with why;
    at half or more, the recovery stands."""
    from harness.attack_run import _damage_guard
    track = "model_utility"
    control = {"before": {"model_utility": 0.5}, "k10": {"model_utility": 0.2}, "k5": {"model_utility": 0.25}}
    m = {"recovery": 0.4}
    _damage_guard(m, track, control, "k10")
    assert m["recovery"] is None and "0.5 to 0.2" in m["recovery_note"]
    m = {"recovery": 0.4}
    _damage_guard(m, track, control, "k5")   # exactly half: kept
    assert m == {"recovery": 0.4}
    m = {"recovery": 0.4}
    _damage_guard(m, track, None, "k10")     # no control: nothing to judge by
    assert m == {"recovery": 0.4}


@pytest.mark.parametrize("task,expected", [("tofu_forget10", "model_utility"), ("wmdp_synthetic", "general_acc"),
                                           ("muse_news_synthetic", "knowmem_retain")])
def test_the_damage_guard_reads_each_tracks_utility(task, expected):
    from harness.attack_run import utility_metric
    from harness.families import load_tracks
    from harness.tasks import get_task
    t = get_task(task)
    assert utility_metric(load_tracks()[t.family], t) == expected


def test_a_model_evaluated_as_is_is_attacked_like_the_run_that_made_it(tiny_grid, tmp_path):
    """A method=none run that evaluated a model (model.evaluate: one unlearned elsewhere, or a meta-eval
    pool model) can be attacked: the attack reads the same numbers as on the run whose model it is."""
    import json
    run = _run_folder(tiny_grid, tmp_path)
    res = tmp_path / "evaluated"
    assert main(["run", "method=none", "task=tofu_forget10", f"model.evaluate={run / 'model'}", f"results_dir={res}",
                 *TINY, "--quiet"]) == 0
    evaluated = next((res / "runs").iterdir())
    assert "-eval-" in evaluated.name
    for folder in (run, evaluated):
        assert main(["attack", str(folder), "quantize", "bits=[8]", "--quiet"]) == 0
    got = [json.loads((f / "attacks" / "quantize" / "8bit" / "metrics.json").read_text()) for f in (run, evaluated)]
    assert got[0]["forget_prob"] == pytest.approx(got[1]["forget_prob"], abs=1e-6)
    assert got[0]["model_utility"] == pytest.approx(got[1]["model_utility"], abs=1e-6)
