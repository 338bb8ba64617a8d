"""Relearning on the document (MUSE) and hazard (WMDP) tracks: the splits by whole events / entities
(checked against the worlds' generation order, a derivation independent of the attack's own, which
matches names), the hazard control base (trained without the evaluated entities' documents), the attack
end to end on tiny runs with its control, and bad input (one line, exit 2, before any compute)."""
import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from harness import models as MD
from harness import runs
from harness.attacks import get_attack
from harness.families.wmdp import entities as S
from harness.families import get_track
from harness.cli import main
from harness.config import ConfigError, load_run_config
from harness.prompts import PromptFormatter
from harness.families.wmdp import world as hazard
from harness.families.muse import world as news

MUSE_TINY = ["eval.bootstrap=50"]


def _data(task: str, *args: str):
    r = runs.resolve(load_run_config(None, [f"task={task}", "method=npo", *args]))
    source = MD.dataset_source(r.cfg, r.task)
    return r, runs.load_data(r, source), source


def _split(family: str, data: dict, source: str, who: str):
    """The family's relearning split (its track's relearn_split), as the relearn attack asks for it."""
    return get_track(family).relearn_split(data, source, f"attack {who}")


def _index(rows: list[dict], part: list[dict]) -> list[int]:
    pos = {r["id"]: i for i, r in enumerate(rows)}
    return [pos[r["id"]] for r in part]


@pytest.mark.parametrize("task", ["muse_news_synthetic", "muse_news_synthetic_scal2"])
def test_muse_split_is_by_whole_events(task):
    """news.generate writes, per forget event i in order: raw/forget rows 2i (report) and 2i+1 (Q&A
    explainer), verbmem row i, knowmem/forget_qa rows QA_PER_ARTICLE*i.., privleak/forget row i. By that
    order, no event has a text in the relearn part and an item in the probe part, every probe item is of
    a probe event, and every item of a probe event is probed."""
    _, data, source = _data(task)
    full = news.generate("default", 0)
    n_events = len(full["verbmem/forget"])
    assert len(full["raw/forget"]) == 2 * n_events   # the layout this test reads events from
    sp = _split("muse", data, source, "relearn")
    forget_pos = {r["text"]: i for i, r in enumerate(full["raw/forget"])}
    relearn_events = {forget_pos[r["text"]] // 2 for r in sp.relearn}
    in_forget = {forget_pos[r["text"]] // 2 for r in data["forget"]}   # scal: a part of the events
    ev, probe = data["eval"], sp.probe["eval"]
    per = {"verbmem": 1, "knowmem_forget": news.QA_PER_ARTICLE, "privleak_forget": 1}
    probe_events = {k: {i // per[k] for i in _index(ev[k], probe[k])} for k in per}
    assert relearn_events and probe_events["verbmem"]
    for k in per:
        assert probe_events[k] == probe_events["verbmem"]               # the same events in every split
        assert len(probe[k]) == per[k] * len(probe_events[k])          # all items of each probe event
    assert not relearn_events & probe_events["verbmem"]
    assert relearn_events | probe_events["verbmem"] == in_forget        # every forget event in one part
    assert len(sp.relearn) == 2 * len(relearn_events)                   # report and explainer of each
    assert len(relearn_events) - len(probe_events["verbmem"]) in (0, 1)
    assert len(sp.units[0]) == len(relearn_events) and len(sp.units[1]) == len(probe_events["verbmem"])
    for k in ("knowmem_retain", "privleak_holdout", "privleak_retain", "knowmem_forget_icl"):
        assert probe[k] == ev[k]                                         # utility and holdout untouched


def test_muse_split_of_real_data_and_bad_input(tmp_path):
    _, data, source = _data("muse_news_synthetic")
    sp = _split("muse", data, str(tmp_path), "relearn")   # no world manifest: real data, no event mapping
    assert sp.relearn == data["forget"][0::2] and sp.probe is data and sp.units == ([], [])
    one = [r for r in data["forget"] if _split("muse", data, source, "relearn").units[0][0] in r["text"].upper()]
    with pytest.raises(ConfigError, match="the forget set has 1 event; relearn and probe parts need two"):
        _split("muse", {**data, "forget": one}, source, "relearn")
    with pytest.raises(ConfigError, match="has 1 document;"):
        _split("muse", {**data, "forget": one[:1]}, str(tmp_path), "relearn")


def test_hazard_split_is_by_whole_entities():
    """hazard.generate writes, per entity i in order, forget_corpus rows 4i..4i+3 (three statements and
    a Q&A page); the first n_format entities have no MCQs, entity n_format + j has hazard_mcq rows
    6j..6j+5. By that order the parts share no entity and format entities are in neither."""
    _, data, source = _data("wmdp_synthetic")
    n, n_format = hazard.PROFILES["default"]
    corpus, mcq = data["forget"][0], data["mcq"]["hazard_mcq"]["rows"]
    per_doc, per_q = len(corpus) // n, len(hazard.HAZARD)
    assert len(corpus) == 4 * n and len(mcq) == per_q * (n - n_format)
    sp = _split("wmdp", data, source, "relearn")
    pos = {d: i for i, d in enumerate(corpus)}
    relearn = {pos[d] // per_doc for d in sp.relearn[0]}
    probe_rows = sp.probe["mcq"]["hazard_mcq"]["rows"]
    qpos = {r["question"]: i for i, r in enumerate(mcq)}
    probe = {n_format + qpos[r["question"]] // per_q for r in probe_rows}
    assert relearn and probe and not relearn & probe
    assert relearn | probe == set(range(n_format, n))                  # evaluated entities only
    assert len(sp.relearn[0]) == per_doc * len(relearn) and len(probe_rows) == per_q * len(probe)
    assert sp.probe["mcq"]["general_mcq"] == data["mcq"]["general_mcq"]  # general accuracy: every question
    docs = S.hazard_documents(data, source)                            # what the control never sees
    assert sorted(pos[d] for d in docs) == list(range(4 * n_format, 4 * n))


def test_hazard_split_of_real_data(tmp_path):
    """Without the world's manifest (real WMDP corpora): every other document of each corpus relearns,
    every question is probed, and there is no control base (no mapping of documents to questions)."""
    _, data, _ = _data("wmdp_synthetic")
    sp = _split("wmdp", data, str(tmp_path), "relearn")
    assert sp.relearn == [c[0::2] for c in data["forget"]] and sp.probe is data and sp.units == ([], [])
    assert S.hazard_documents(data, str(tmp_path)) is None
    with pytest.raises(ConfigError, match="has 1 document;"):
        _split("wmdp", {**data, "forget": [data["forget"][0][:1]]}, str(tmp_path), "relearn")


def test_hazard_control_base_is_trained_without_the_entities(tiny):
    """The control base: pretrained on pretrain.jsonl minus every document naming an evaluated
    entity (all of them, relearn and probe); the format entities' documents and practice rows stay.
    The rows it trained on are recovered from its step count (epochs x batches)."""
    r, data, source = _data("wmdp_synthetic", *tiny)
    names = S.hazard_entities(data, source)
    docs = S.hazard_documents(data, source)
    rows = [json.loads(x) for x in (Path(source) / "pretrain.jsonl").read_text().splitlines()]
    kept = [p for p in rows if not any(n in p["answer"] or n in p["prompt"] for n in names)]
    assert len(rows) - len(kept) == len(docs) == 4 * len(names)         # only their documents mention them
    out = MD.control_base(r.cfg, source, docs, progress=False)
    meta = json.loads((out / MD.META).read_text())
    recipe = r.cfg.model.pretrain
    assert meta["role"] == "control" and meta["without_documents"] == len(docs)
    assert meta["train"]["steps"] == recipe.epochs * math.ceil(len(kept) / recipe.batch_size)
    assert out.parent == MD.cache_root() / "models" and out.name.startswith("control-")
    assert MD.control_base(r.cfg, source, docs, progress=False) == out    # cached
    with pytest.raises(ConfigError, match="holds 0 of the 1 documents"):
        MD.control_base(r.cfg, source, ["a document the world does not have"], progress=False)


def _choice_probability(model, fmt, data, source, names: list[str]) -> float:
    """Mean probability a model gives the true value of a fact of `names` among the four values the
    question offers: each fact's statement ("<entity> infects marsh voles.") scored with each value,
    normalised over the four (0.25 = no knowledge). The 4-way cloze of the hazard MCQs, read from the
    likelihoods rather than from a 0/1 accuracy over a dozen questions."""
    from harness.tensors import answer_logprobs, collate
    ps = []
    for row in data["mcq"]["hazard_mcq"]["rows"]:
        e = S.entity(row["question"])
        if e not in names:
            continue
        statement = next(st[0] for _v, st, q, _qa in hazard.HAZARD.values() if q.format(e=e) == row["question"])
        batch = collate([fmt.encode("", statement.format(e=e, v=v)) for v in row["choices"]], MD.pad_id(fmt.tok))
        with torch.no_grad():
            lp = answer_logprobs(model, batch).seq_logp
        ps.append(torch.softmax(lp, 0)[row["answer"]].item())
    return sum(ps) / len(ps)


def test_hazard_control_gains_nothing_on_entities_it_never_saw(tiny):
    """What the control is for. The attack's own steps (relearn on the relearn entities' documents)
    applied to the control base: it learns the relearn entities' facts (their true values gain
    probability) but gains nothing on the probe entities' facts, which it never saw (it is at chance
    before and stays at or below it). And the base, which did see them, knows them better than the
    control does. Asserted on the 4-way choice probability of every fact rather than on hazard
    accuracy: the tiny world's 12 probe questions put accuracy at chance for every tiny model (as
    measured), so an accuracy comparison there would assert noise."""
    r, data, source = _data("wmdp_synthetic", *tiny)
    paths = MD.prepare_models(r.cfg, r.task, False)
    relearn_names, probe_names = _split("wmdp", data, source, "relearn").units
    control = str(MD.control_base(r.cfg, source, S.hazard_documents(data, source), progress=False))
    p = {}
    for who, ref in (("base", paths["base"]), ("control", control)):
        model, tok = MD.load_model(ref, device="cpu"), MD.load_tokenizer(ref)
        fmt = PromptFormatter(tok, "plain", r.cfg.eval.max_length)
        ctx = SimpleNamespace(run=r, data=data, reference={}, tok=tok, fmt=fmt, seed=0, paths=paths)
        attack = get_attack("relearn")
        for label, m in attack.models(model, attack.Config(steps=[0, 20]), ctx):
            p[who, label] = (_choice_probability(m, fmt, data, source, relearn_names),
                             _choice_probability(m, fmt, data, source, probe_names))
    assert abs(p["control", "k0"][1] - 0.25) < 0.05                   # never saw the probe entities
    assert p["control", "k20"][1] <= p["control", "k0"][1] + 0.02      # and relearning does not teach them
    assert p["control", "k20"][0] >= p["control", "k0"][0] + 0.1       # while it learns what it trains on
    assert sum(p["base", "k0"]) > sum(p["control", "k0"]) + 0.1        # the base knew them


def _run(tmp_path, task, method, tiny, *extra):
    assert main(["run", f"task={task}", f"method={method}", *tiny, *extra, f"results_dir={tmp_path}", "--quiet"]) == 0
    return next((tmp_path / "runs").glob(f"{task}-{method}-*"))


def _attack(run, name, steps):
    assert main(["attack", str(run), name, f"steps={steps}", "--quiet"]) == 0
    out = run / "attacks" / name
    status = json.loads((out / "status.json").read_text())
    labels = status["labels"]
    return status, {lb: json.loads((out / lb / "metrics.json").read_text()) for lb in labels}, \
        json.loads((out / "control.json").read_text())


def test_relearn_on_a_tiny_muse_run(tmp_path, tiny):
    run = _run(tmp_path, "muse_news_synthetic", "npo", tiny + MUSE_TINY)
    status, m, control = _attack(run, "relearn", "[0,2,6]")
    assert status["labels"] == ["k0", "k2", "k6"]
    retain = json.loads((run / "provenance.json").read_text())["models"]["retain"]
    assert status["control"] == control["model"] == retain
    items = [json.loads(x) for x in (run / "attacks" / "relearn" / "k6" / "items.jsonl").read_text().splitlines()]
    n = {s: sum(i["set"] == s for i in items)
         for s in ("verbmem", "knowmem_forget", "privleak_forget", "knowmem_retain")}
    events = len(news.generate("tiny", 0)["verbmem/forget"])
    assert n == {"verbmem": events // 2, "knowmem_forget": events // 2 * news.QA_PER_ARTICLE,
                 "privleak_forget": events // 2, "knowmem_retain": events * news.QA_PER_ARTICLE}
    for k in ("verbmem", "knowmem_forget", "privleak"):
        assert m["k0"][f"{k}_change"] == 0 and m["k0"][f"control_{k}_change"] == 0
        assert m["k6"][f"{k}_change"] == pytest.approx(m["k6"][k] - m["k0"][k])
        assert m["k6"][f"control_{k}_change"] == pytest.approx(control["k6"][k] - control["k0"][k])
        assert m["k6"][f"{k}_net_change"] == pytest.approx(m["k6"][f"{k}_change"] - m["k6"][f"control_{k}_change"])
    # PrivLeak of the probe reports against the retain model's AUC on the same reports
    r = runs.resolve(load_run_config(str(run / "config.yaml")))
    source = MD.dataset_source(r.cfg, r.task)
    probe = _split("muse", runs.load_data(r, source), source, "relearn").probe
    ref = r.track.reference(r.task, MD.prepare_models(r.cfg, r.task, False), probe, r.cfg)
    assert m["k6"]["retain_model_mia_auc_min_k"] == ref["auc"]["min_k"]
    assert m["k6"]["verbmem"] != m["k0"]["verbmem"]                     # the steps trained the model
    assert control["k0"]["privleak"] == 0                                # the retain model against itself
    for a in ("loss", "zlib", "min_k", "min_k_pp"):
        assert control["k0"][f"mia_auc_{a}"] == control["k0"][f"retain_model_mia_auc_{a}"] == ref["auc"][a]


def test_relearn_on_a_tiny_hazard_run_and_its_control(tmp_path, tiny):
    """The hazard track: hazard accuracy on the probe entities' questions only (general on all), the
    control being the base pretrained without the evaluated entities. (The hazard track has no
    PrivLeak: the control's k = 0 check of the other tracks has nothing to check here.) Every question's
    correctness is kept in items.jsonl (lm-eval's logged samples): each kind's accuracy is their mean,
    and what the method removed is paired per question against the base."""
    run = _run(tmp_path, "wmdp_synthetic", "grad_ascent", tiny)
    items = [json.loads(x) for x in (run / "items.jsonl").read_text().splitlines()]
    own = json.loads((run / "metrics.json").read_text())
    for kind in ("hazard", "general"):
        acc = [i["acc"] for i in items if i["set"] == kind]
        assert len(acc) == own[f"{kind}_n"] and sum(acc) / len(acc) == pytest.approx(own[f"{kind}_acc"])
    assert len({i["id"] for i in items}) == len(items) and all(i["question"] for i in items)
    status, m, control = _attack(run, "relearn", "[0,5,20]")
    n, n_format = hazard.PROFILES["tiny"]
    assert m["k0"]["hazard_n"] == len(hazard.HAZARD) * ((n - n_format) // 2)
    assert m["k0"]["general_n"] == json.loads((run / "metrics.json").read_text())["general_n"]
    assert control["model"] == status["control"] and "/control-" in control["model"]
    for k in ("hazard_acc", "general_acc"):
        assert m["k0"][f"{k}_change"] == 0 and m["k0"][f"control_{k}_change"] == 0
        assert m["k20"][f"{k}_change"] == pytest.approx(m["k20"][k] - m["k0"][k])
        assert m["k20"][f"control_{k}_change"] == pytest.approx(control["k20"][k] - control["k0"][k])
    target = json.loads((run / "attacks" / "relearn" / "target.json").read_text())
    assert len(target["before_items"]) == m["k0"]["hazard_n"] == m["k20"]["removed_n"]   # the probe questions
    assert m["k20"]["removed"] == pytest.approx(target["before"]["hazard_acc"] - m["k0"]["hazard_acc"])
    assert (m["k20"]["recovery"] is None) == ("recovery_note" in m["k20"])


def test_relearn_bad_input_on_the_new_tracks(tmp_path, tiny, capsys, monkeypatch):
    run = _run(tmp_path, "muse_news_synthetic", "grad_ascent", tiny + MUSE_TINY)
    capsys.readouterr()
    for args, expected in ([["steps=[-1,0]"], "steps"], [["items_per_author=2"], "applies to TOFU tasks only"],
                           [["lr=-1"], "lr"]):
        assert main(["attack", str(run), "relearn", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1, err
    assert not (run / "attacks").exists()
    # an attack that needs what the family lacks is refused before any compute, naming what is missing
    monkeypatch.setattr(get_attack("relearn_ood"), "requires", ("qa",))
    assert main(["attack", str(run), "relearn_ood"]) == 2
    err = capsys.readouterr().err
    assert "does not apply to task family muse" in err and "question-answer items" in err
