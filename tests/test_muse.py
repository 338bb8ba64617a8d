"""The MUSE-style document track: the synthetic news world in MUSE-News's layout, the loader for real
MUSE data (local folders in the public layout, parquet included; the hub offline), the metric
formulas by hand, and sequential requests."""
import json
from pathlib import Path

import pandas as pd
import pytest

from harness import metrics as M
from harness.families.muse import data as musedata
from harness.cli import main
from harness.data import DataError
from harness.families.muse import world as news

MUSE_LAYOUT = {
    "raw": ["forget", "retain1", "retain2", "holdout"], "verbmem": ["forget"],
    "knowmem": ["forget_qa", "forget_qa_icl", "retain_qa", "retain_qa_icl"],
    "privleak": ["forget", "retain", "holdout"], "scal": [f"forget_{k}" for k in range(1, 5)],
    "sust": [f"forget_{k}" for k in range(1, 5)],
}


@pytest.fixture(scope="module")
def world():
    return news.generate("default", 0)


def test_world_has_muse_news_layout_and_fields(world):
    for config, splits in MUSE_LAYOUT.items():
        for split in splits:
            rows = world[f"{config}/{split}"]
            assert rows, f"{config}/{split} is empty"
            assert all(set(r) == set(musedata.FIELDS[config]) for r in rows), f"{config}/{split}"
    assert news.generate("default", 0) == world            # deterministic per seed
    assert news.generate("default", 1) != world


def test_world_splits_are_consistent(world):
    text = lambda s: [r["text"] for r in world[s]]  # noqa: E731
    forget, holdout = text("raw/forget"), text("raw/holdout")
    trained = set(forget) | set(text("raw/retain1")) | set(text("raw/retain2"))
    assert not set(holdout) & trained                         # holdout texts are never trained on
    # each event is a report and a Q&A explainer; privleak's texts are the reports (articles)
    assert text("privleak/forget") == forget[0::2] and text("privleak/holdout") == holdout[0::2]
    assert text("privleak/retain") == text("raw/retain2")[0::2]
    assert all(t.startswith("Q&A: ") for t in forget[1::2]) and not any(t.startswith("Q&A") for t in forget[0::2])
    scal = [text(f"scal/forget_{k}") for k in range(1, 5)]
    assert all(set(a) < set(b) for a, b in zip(scal, scal[1:])) and scal[-1] == forget   # growing
    sust = [set(text(f"sust/forget_{k}")) for k in range(1, 5)]
    assert all(not (a & b) for i, a in enumerate(sust) for b in sust[i + 1:])           # disjoint
    assert set().union(*sust) == set(forget)
    for v, report in zip(world["verbmem/forget"], forget[0::2]):   # prompt = the opening, gt = the rest
        assert report == v["prompt"] + " " + v["gt"]
    # every knowmem answer is in its own split's explainers only (a retain model cannot know it), and
    # never in a report (it must be recalled, not copied from the running text)
    reports = forget[0::2] + text("raw/retain2")[0::2]
    for split, source in (("forget", forget), ("retain", text("raw/retain2"))):
        other = text("raw/retain2") if split == "forget" else forget
        for qa in world[f"knowmem/{split}_qa"] + world[f"knowmem/{split}_qa_icl"]:
            block = musedata.qa_block(qa["question"], qa["answer"])
            assert any(block in a for a in source) and not any(block in a for a in other + holdout)
            assert not any(qa["answer"] in r for r in reports)
    icl = {q["question"] for q in world["knowmem/forget_qa_icl"]}
    assert not icl & {q["question"] for q in world["knowmem/forget_qa"]}   # shots never ask an evaluated question


@pytest.mark.parametrize("profile", ["tiny", "default"])
def test_membership_events_have_name_words_of_their_own(profile):
    """No person named in a forget or holdout event shares a name word with the people of the events
    models train on otherwise (retain1, retain2, the base's general corpus)."""
    import re
    from harness import vocab
    names = set(vocab.FIRST_NAMES) | {h + t for h in vocab.SURNAME_HEADS for t in vocab.SURNAME_TAILS}
    for seed in range(3):
        files = news.generate(profile, seed)
        said = lambda split, key="text": {w for r in files[split] for w in re.findall(r"[A-Z][a-z]+", r[key])} & names  # noqa: E731
        unit = said("raw/forget") | said("raw/holdout")
        trained = said("raw/retain1") | said("raw/retain2") | said("pretrain", "answer") | said("pretrain", "prompt")
        assert unit and trained and not unit & trained


def test_rouge_l_f1_by_hand():
    # prediction "the red cat sat" vs reference "the cat sat down": LCS "the cat sat" = 3,
    # P = 3/4, R = 3/4, F1 = 0.75
    assert M.rouge_l_f1("the red cat sat", "the cat sat down") == pytest.approx(0.75)
    # "a b" vs "a b c d": LCS 2, P = 1, R = 0.5, F1 = 2/3
    assert M.rouge_l_f1("a b", "a b c d") == pytest.approx(2 / 3)
    assert M.rouge_l_f1("", "a b") == 0.0


def test_knowmem_prompt_format():
    shots = [{"question": "Q1?", "answer": "A1"}, {"question": "Q2?", "answer": "A2"}]
    assert musedata.knowmem_prompt(shots, "Q3?") == \
        "Question: Q1?\nAnswer: A1\n\nQuestion: Q2?\nAnswer: A2\n\nQuestion: Q3?\nAnswer:"
    assert musedata.knowmem_prompt([], "Q?") == "Question: Q?\nAnswer:"


@pytest.mark.parametrize("generation, answer", [
    ("the Red Hall\nbuilt in 1900", "the Red Hall\nbuilt in 1900"),   # one line break does not end it
    ("the Red Hall\n\nQuestion: Who?", "the Red Hall"),             # a blank line does
    ("the Red Hall\nQuestion: Who?", "the Red Hall"),                # so does the next question
    ("the Red Hall Question: Who?", "the Red Hall"),
    ("\n\nthe Red Hall", ""),
])
def test_knowmem_answer_is_cut_where_muse_cuts_it(generation, answer):
    """MUSE's metrics/knowmem.py: the output before the first "\\n\\n", "\\nQuestion" or "Question:"."""
    assert musedata.knowmem_answer(generation) == answer


def test_every_in_context_pair_unless_shots_says_fewer():
    """MUSE prompts with every row of the _icl file; eval.shots (optional) takes the first N."""
    from harness.tasks import get_task
    from harness.families.muse.evaluate import _icl
    ev = {"knowmem_forget_icl": [{"question": f"q{i}?", "answer": f"a{i}"} for i in range(5)]}
    task = get_task("muse_news")
    assert "shots" not in task.eval and _icl(task, ev, "forget") == ev["knowmem_forget_icl"]
    task.eval["shots"] = 2
    assert _icl(task, ev, "forget") == ev["knowmem_forget_icl"][:2] and _icl(task, ev, "retain") == []


def test_texts_are_scored_without_eos_and_verbmem_truth_is_cut(qa_tok):
    """A privleak text is encoded as MUSE's code encodes it: BOS and the text's tokens, no EOS (up to
    max_length in all); VerbMem's truth is cut to the first n tokens, BOS counted (MUSE's verbmem.py)."""
    text = "the author was born in a city"
    ids = qa_tok(text, add_special_tokens=False)["input_ids"]
    bos = [qa_tok.bos_token_id] if qa_tok.bos_token_id is not None else []
    enc = musedata.Texts(qa_tok, 256).encode("", text)
    assert enc.prompt == bos and enc.answer == ids                    # no EOS appended
    assert musedata.Texts(qa_tok, len(bos) + 3).encode("", text).answer == ids[:3]
    long = " ".join([text] * 20)
    long_ids = bos + qa_tok(long, add_special_tokens=False)["input_ids"]
    assert len(long_ids) > 10
    assert musedata.verbmem_truth(qa_tok, long, 10) == qa_tok.decode(long_ids[:10], skip_special_tokens=True)
    assert musedata.verbmem_truth(qa_tok, text, 128) == text          # short enough: kept as it is


def test_min_k_over_int_k_n_tokens():
    """MUSE's privleak code takes int(k * n) lowest log-probs (at least one here); the TOFU track keeps
    ceil(k * n). Lowest first: -5, -4, -3, -2."""
    lp = [-2.0, -5.0, -3.0, -4.0]
    assert M.min_k_mean(lp, 0.4, rounding="floor") == -5.0            # int(1.6) = 1
    assert M.min_k_mean(lp, 0.4) == pytest.approx(-4.5)               # ceil(1.6) = 2
    assert M.min_k_mean(lp + [-1.0], 0.4, rounding="floor") == pytest.approx(-4.5)   # int(2.0) = 2
    assert M.min_k_mean([-1.0, -3.0], 0.4, rounding="floor") == -3.0  # int(0.8) = 0: one token
    assert M.mia_scores(lp, lp, "abc", 0.4, rounding="floor")["min_k"] == 5.0


def _write(folder, ref, rows, ext="jsonl"):
    path = folder / f"{ref}.{ext}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if ext == "parquet":
        pd.DataFrame(rows).to_parquet(path)
    elif ext == "json":
        path.write_text(json.dumps(rows))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_loader_reads_the_public_layout_in_every_format(tmp_path):
    _write(tmp_path, "raw/forget", [{"text": "a b"}, {"text": "c d"}])
    _write(tmp_path, "knowmem/forget_qa", [{"question": "q?", "answer": "x"}], "json")
    _write(tmp_path, "verbmem/forget", [{"prompt": "p", "gt": "g"}], "parquet")
    (tmp_path / "privleak").mkdir()
    pd.DataFrame([{"text": "t"}]).to_parquet(tmp_path / "privleak" / "holdout-00000-of-00001.parquet")  # hub snapshot
    assert musedata.load(str(tmp_path), "raw/forget") == [{"text": "a b", "id": "raw/forget:0"},
                                                           {"text": "c d", "id": "raw/forget:1"}]
    assert musedata.load(str(tmp_path), "knowmem/forget_qa")[0]["answer"] == "x"
    assert musedata.load(str(tmp_path), "verbmem/forget")[0] == {"prompt": "p", "gt": "g", "id": "verbmem/forget:0"}
    assert musedata.load(str(tmp_path), "privleak/holdout")[0]["text"] == "t"


@pytest.mark.parametrize("content, message", [
    ('{"text": "ok"}\n{"txt": "x"}\n', r"forget.jsonl:2: no field 'text'"),
    ('{"text": "ok"}\n\n{"text": ""}\n', r"forget.jsonl:3: field 'text' must be a non-empty string"),
    ('{"text": "ok"}\n{"text": "x"\n', r"forget.jsonl:2: not valid JSON"),
    ("", r"forget.jsonl: no rows"),
])
def test_loader_rejects_bad_rows_with_file_and_line(tmp_path, content, message):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "forget.jsonl").write_text(content)
    with pytest.raises(DataError, match=message):
        musedata.load(str(tmp_path), "raw/forget")


def test_loader_names_what_is_missing(tmp_path):
    _write(tmp_path, "raw/retain1", [{"text": "x"}])
    with pytest.raises(DataError, match=r"no config folder 'knowmem/'"):
        musedata.load(str(tmp_path), "knowmem/forget_qa")
    with pytest.raises(DataError, match=r"no split 'forget'.*found: retain1"):
        musedata.load(str(tmp_path), "raw/forget")
    with pytest.raises(DataError, match=r"expected <config>/<split>"):
        musedata.load(str(tmp_path), "forget")
    with pytest.raises(DataError, match=r"does not exist"):
        musedata.load("./no/such/folder", "raw/forget")


def test_hub_id_offline_is_one_line():
    with pytest.raises(DataError, match=r"dataset 'muse-bench/MUSE-News' config 'raw' split 'forget' could not "
                                        r"be loaded .*offline, pass a local folder"):
        musedata.load("muse-bench/MUSE-News", "raw/forget")


def _fixture(folder):
    """The tiny synthetic news world written as a local copy of MUSE-News (the public layout)."""
    files = news.generate("tiny", 0)
    for ref, rows in files.items():
        if "/" in ref:
            _write(folder, ref, rows)
    return files


def _break_row(folder, files):
    bad = folder / "knowmem" / "retain_qa.jsonl"
    bad.write_text(bad.read_text() + '{"question": "q?"}\n')
    return f"{bad}:{len(files['knowmem/retain_qa']) + 1}: no field 'answer'"


def _empty_forget(folder, files):
    (folder / "raw" / "forget.jsonl").write_text("\n")
    return f"{folder / 'raw' / 'forget.jsonl'}: no rows"


def _no_split(folder, files):
    (folder / "privleak" / "holdout.jsonl").unlink()
    return f"{folder / 'privleak'}: no split 'holdout'"


def _no_config(folder, files):
    import shutil
    shutil.rmtree(folder / "verbmem")
    return f"{folder}: no config folder 'verbmem/'"


def _no_holdout(folder, files):
    (folder / "raw" / "holdout.jsonl").unlink()   # raw/holdout: declared by the task, read by no metric
    return f"{folder / 'raw'}: no split 'holdout'"


def _bad_holdout(folder, files):
    bad = folder / "raw" / "holdout.jsonl"
    bad.write_text(bad.read_text() + '{"txt": "x"}\n')
    return f"{bad}:{len(files['raw/holdout']) + 1}: no field 'text'"


def _json_beside_jsonl(folder, files):
    _write(folder, "raw/forget", files["raw/forget"][:1], "json")
    return f"{folder / 'raw'}: 2 files for split 'forget': forget.jsonl, forget.json"


def _parquet_beside_jsonl(folder, files):
    (folder / "knowmem").joinpath("retain_qa-00000-of-00001.parquet").write_bytes(b"")
    return f"{folder / 'knowmem'}: 2 files for split 'retain_qa': retain_qa.jsonl, retain_qa-00000-of-00001.parquet"


def _no_model(tmp_path):
    """A folder that passes for a model folder (a config.json) and is never loaded: the data error comes
    first."""
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text("{}")
    return folder


@pytest.mark.parametrize("damage", [_break_row, _empty_forget, _no_split, _no_config, _no_holdout, _bad_holdout,
                                    _json_beside_jsonl, _parquet_beside_jsonl])
def test_real_muse_task_on_a_bad_local_copy_fails_before_training(tmp_path, capsys, damage):
    """muse_news pointed at a local folder in the public layout with one defect: exit 2 with one line
    naming the file (and line), before any model is trained or loaded."""
    data = tmp_path / "data"
    expected = damage(data, _fixture(data))
    rc = main(["run", "task=muse_news", f"dataset={data}", "method=grad_ascent",
               f"model.base={_no_model(tmp_path)}", f"results_dir={tmp_path / 'r'}"])
    err = capsys.readouterr().err
    assert rc == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r" / "runs").exists() or not any((tmp_path / "r" / "runs").iterdir())


def test_more_shots_than_in_context_pairs_is_one_line(tmp_path, capsys):
    """eval.shots: 3 with 2 rows in knowmem/forget_qa_icl: exit 2, one line, before any model."""
    data = tmp_path / "data"
    files = _fixture(data)
    _write(data, "knowmem/forget_qa_icl", files["knowmem/forget_qa_icl"][:2])
    task = tmp_path / "t.yaml"
    task.write_text(f"include: {Path(__file__).resolve().parent.parent / 'tasks' / 'muse_news.yaml'}\n"
                    "name: t\nversion: 1\neval: {shots: 3}\n")
    rc = main(["run", f"task={task}", f"dataset={data}", "method=grad_ascent", f"model.base={_no_model(tmp_path)}",
               f"results_dir={tmp_path / 'r'}"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "eval.shots is 3 but knowmem/forget_qa_icl has 2 in-context pairs" in err


def test_real_muse_task_offline_hub_is_one_line(tmp_path, capsys):
    rc = main(["run", "task=muse_books", "method=npo", f"model.base={_no_model(tmp_path)}", f"results_dir={tmp_path / 'r'}"])
    err = capsys.readouterr().err
    assert rc == 2 and "dataset 'muse-bench/MUSE-Books' config 'raw' split 'forget' could not be loaded" in err


def test_real_muse_task_on_a_good_local_copy_runs(tmp_path, tiny):
    """The same fixture folder, intact, runs as muse_news with given target and retain models (here
    the tiny synthetic-news ones, whose tokenizer knows these texts): the real-data path end to end."""
    from harness.config import load_run_config
    from harness.models import prepare_models
    from harness.runs import resolve
    data = tmp_path / "data"
    _fixture(data)
    r = resolve(load_run_config(None, tiny + ["task=muse_news_synthetic", "method=none"]))
    paths = prepare_models(r.cfg, r.task, progress=False)
    assert main(["run", "task=muse_news", f"dataset={data}", "method=grad_ascent", *tiny,
                 f"model.target={paths['target']}", f"model.retain={paths['retain']}",
                 f"results_dir={tmp_path / 'r'}", "--quiet"]) == 0
    folder = next((tmp_path / "r" / "runs").iterdir())
    metrics = json.loads((folder / "metrics.json").read_text())
    assert {"verbmem", "knowmem_forget", "knowmem_retain", "privleak"} <= set(metrics)
    assert json.loads((folder / "provenance.json").read_text())["models"]["source"] == str(data)
    # a part of the forget set on real data (questions not tied to articles): utility only, and why
    part = tmp_path / "scal.yaml"
    part.write_text(f"include: {Path(__file__).resolve().parent.parent / 'tasks' / 'muse_news.yaml'}\n"
                    "name: real_scal\nversion: 1\nsplits: {forget: scal/forget_1}\n")
    assert main(["run", f"task={part}", f"dataset={data}", "method=grad_ascent", *tiny, "eval.bootstrap=50",
                 f"model.target={paths['target']}", f"model.retain={paths['retain']}",
                 f"results_dir={tmp_path / 'r2'}", "--quiet"]) == 0
    folder = next((tmp_path / "r2" / "runs").iterdir())
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics) == {"knowmem_retain", "knowmem_retain_ci", "retain_exact_memorization", "forget_scope"}
    assert metrics["forget_scope"].startswith("utility only")


MUSE_TINY = ["eval.bootstrap=50"]  # the tiny models of the other tests (no new build)


def test_muse_track_end_to_end(tmp_path, tiny):
    """Target, retain and two methods on the tiny news world: the retain model's PrivLeak is 0 by
    definition, the target (trained on the forget articles) scores far below it, and every number of
    the leaderboard row is the one in its run folder."""
    grid = tmp_path / "g.yaml"
    grid.write_text("tasks: [muse_news_synthetic]\nmethods: [grad_ascent, npo]\nbaselines: [target, retain]\n"
                    f"overrides: {json.dumps(tiny + MUSE_TINY)}\n")
    assert main(["grid", str(grid), f"results_dir={tmp_path / 'r'}", "--quiet"]) == 0
    df = pd.read_csv(tmp_path / "r" / "leaderboard.csv").set_index("method")
    assert set(df.index) == {"target", "retain", "grad_ascent", "npo"} and (df["status"] == "complete").all()
    assert df.loc["retain", "privleak"] == 0.0
    assert df.loc["target", "privleak"] < -50 and df.loc["target", "verbmem"] > df.loc["retain", "verbmem"]
    for m in df.index:
        folder = next((tmp_path / "r" / "runs").glob(f"muse_news_synthetic-{m}-s0-*"))
        metrics = json.loads((folder / "metrics.json").read_text())
        auc, ref = metrics["mia_auc_min_k"], metrics["retain_model_mia_auc_min_k"]
        assert metrics["privleak"] == pytest.approx((auc - ref) / ref * 100)
        assert "forget_scope" not in metrics          # the whole forget set: every metric
        items = [json.loads(x) for x in (folder / "items.jsonl").read_text().splitlines()]
        if m == "target":
            _texts_scored_as_muse(tiny, items)
        verb = [i["rouge_f1"] for i in items if i["set"] == "verbmem"]
        assert metrics["verbmem"] == pytest.approx(sum(verb) / len(verb)) == pytest.approx(df.loc[m, "verbmem"])
        assert metrics["verbmem_ci"][0] <= metrics["verbmem"] <= metrics["verbmem_ci"][1]
    assert df.loc["grad_ascent", "steps"] > 0 and df.loc["grad_ascent", "cost_vs_retrain"] > 0
    html = (tmp_path / "r" / "leaderboard.html").read_text()
    assert "family-muse" in html or "Documents (MUSE-style)" in html


def _texts_scored_as_muse(tiny, items):
    """A privleak text's LOSS and Min-K% by hand, as MUSE's privleak code scores it: BOS + the text's
    tokens, no EOS appended, every token after BOS scored, Min-K% the mean of the int(0.4 n) lowest."""
    import math

    from harness import models as MD
    from harness.config import load_run_config
    from harness.prompts import Encoded
    from harness.runs import resolve
    from harness.tensors import answer_logprobs, collate
    r = resolve(load_run_config(None, tiny + ["task=muse_news_synthetic", "method=none"]))
    path = MD.prepare_models(r.cfg, r.task, progress=False)["target"]   # the cached target the grid used
    model, tok = MD.load_model(path, "float32", "cpu"), MD.load_tokenizer(path)
    rows = news.generate("tiny", 0)["privleak/forget"]
    checked = 0
    for item in (i for i in items if i["set"] == "privleak_forget"):
        text = rows[int(item["id"].rsplit(":", 1)[1])]["text"]
        ids = tok(text, add_special_tokens=False)["input_ids"]
        bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
        lp = answer_logprobs(model, collate([Encoded(bos, ids)], MD.pad_id(tok)))
        logps = lp.token_logps[0][lp.mask[0].bool()].tolist()
        assert len(logps) == len(ids)                                  # every text token, no EOS
        low = sorted(logps)[:max(1, int(0.4 * len(logps)))]
        assert item["mia"]["loss"] == pytest.approx(-sum(logps) / len(logps), rel=1e-5)
        assert item["mia"]["min_k"] == pytest.approx(-sum(low) / len(low), rel=1e-5)
        checked += math.ceil(0.4 * len(logps)) != int(0.4 * len(logps))   # where the rounding matters
    assert checked  # at least one text where ceil and int differ


def test_sequential_requests_record_metrics_after_each(tmp_path, tiny):
    """The sustainability task: four disjoint requests applied one after another; the folder keeps the
    metrics after each, steps add up, the last request's numbers are the run's."""
    rc = main(["run", "task=muse_news_synthetic_sust", "method=grad_ascent", *tiny, *MUSE_TINY,
               f"results_dir={tmp_path / 'r'}", "--quiet"])
    assert rc == 0
    folder = next((tmp_path / "r" / "runs").iterdir())
    reqs = [json.loads(x) for x in (folder / "requests.jsonl").read_text().splitlines()]
    assert [r["request"] for r in reqs] == [1, 2, 3, 4]
    assert [r["split"] for r in reqs] == [f"sust/forget_{k}" for k in range(1, 5)]
    # after request i (of 4 disjoint quarters of 8 events): the 2i events requested so far, no privleak;
    # after the last the requests together are the forget set, and every metric is reported
    for i, r in enumerate(reqs[:-1], 1):
        assert "privleak" not in r["metrics"] and "verbmem" in r["metrics"]
        assert r["metrics"]["forget_scope"].startswith(
            f"the {2 * i} requested events of 8 (verbmem {2 * i}, knowmem_forget {4 * i}, privleak_forget {2 * i} items)")
    assert "privleak" in reqs[-1]["metrics"] and "forget_scope" not in reqs[-1]["metrics"]
    steps = [r["steps"] for r in reqs]
    assert steps == sorted(steps) and steps[0] > 0 and len(set(steps)) == 4
    metrics = json.loads((folder / "metrics.json").read_text())
    assert reqs[-1]["metrics"] == metrics
    compute = json.loads((folder / "compute.json").read_text())
    assert compute["steps"] == steps[-1]
    log = [json.loads(x) for x in (folder / "train_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == list(range(1, steps[-1] + 1)) and {e["request"] for e in log} == {1, 2, 3, 4}
