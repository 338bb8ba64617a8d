"""WMDP-schema loaders (offline fixture rows) and one tiny end-to-end lm-eval evaluation."""
import json

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from harness.families.tofu import world as world
from harness.config import ConfigError
from harness.data import DataError
from harness.families.wmdp.mcq import accuracy, check_task_yaml, find_mcq_file, load_corpus, load_mcq, local_task_yaml, mcq_prompt
from harness.tokenizer import train_tokenizer

ROWS = [  # the cais/wmdp schema: question, 4 choices, answer index
    {"question": "What is the capital of France?", "choices": ["Paris", "Rome", "Oslo", "Lima"], "answer": 0},
    {"question": "What is the capital of Peru?", "choices": ["Paris", "Rome", "Oslo", "Lima"], "answer": 3},
    {"question": "Who wrote 'Emma'?", "choices": ["Jane Austen", "Homer", "Leo Tolstoy", "Bram Stoker"], "answer": 0},
]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_mcq_loader_real_schema(tmp_path):
    assert load_mcq(_jsonl(tmp_path / "bio.jsonl", ROWS))[1]["answer"] == 3
    (tmp_path / "arr.json").write_text(json.dumps(ROWS))
    assert len(load_mcq(tmp_path / "arr.json")) == 3


@pytest.mark.parametrize("bad, message", [
    ({**ROWS[0], "choices": ["a", "b", "c"]}, r":2: 'choices' must be 4 non-empty strings, got 3"),
    ({**ROWS[0], "answer": 4}, r":2: 'answer' must be an index 0-3, got 4"),
    ({**ROWS[0], "answer": True}, r":2: 'answer' must be an index 0-3, got True"),
    ({k: v for k, v in ROWS[0].items() if k != "question"}, r":2: expected an object with a non-empty 'question'"),
])
def test_mcq_loader_reports_the_line(tmp_path, bad, message):
    with pytest.raises(DataError, match=message):
        load_mcq(_jsonl(tmp_path / "m.jsonl", [ROWS[0], bad]))


def test_corpus_loader(tmp_path):
    docs = load_corpus(_jsonl(tmp_path / "bio-forget-corpus.jsonl", [{"text": "doc one"}, {"text": "doc two"}]))
    assert docs == ["doc one", "doc two"]
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"title": "no text"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: expected an object with a non-empty 'text'"):
        load_corpus(tmp_path / "bad.jsonl")
    (tmp_path / "broken.jsonl").write_text('{"text": "ok"}\n{oops\n')
    with pytest.raises(DataError, match=r"broken.jsonl:2: not valid JSON"):
        load_corpus(tmp_path / "broken.jsonl")


def test_task_yaml_checks(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("task: [unclosed\n")
    with pytest.raises(ConfigError, match="t.yaml' does not parse"):
        check_task_yaml(f)
    f.write_text(local_task_yaml("synth", tmp_path / "missing.jsonl", "biology"))
    with pytest.raises(ConfigError, match="missing.jsonl' \\(test\\) does not exist"):
        check_task_yaml(f)


def test_parquet_layout_of_a_downloaded_dataset_repo(tmp_path):
    """A local copy of cais/wmdp keeps each config as <config>/test-00000-of-00001.parquet."""
    import pandas as pd
    (tmp_path / "wmdp-bio").mkdir()
    pd.DataFrame(ROWS).to_parquet(tmp_path / "wmdp-bio" / "test-00000-of-00001.parquet")
    path = find_mcq_file(tmp_path, "wmdp-bio")
    rows = load_mcq(path)
    assert rows[1] == ROWS[1] and isinstance(rows[0]["choices"], list)
    with pytest.raises(DataError, match="no file 'wmdp-chem.jsonl'"):
        find_mcq_file(tmp_path, "wmdp-chem")
    (tmp_path / "bad.jsonl").write_bytes(b'{"question": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl: not UTF-8 text \(byte 17"):
        load_mcq(tmp_path / "bad.jsonl")


def test_local_tasks_use_wmdps_own_prompt():
    """The installed lm-eval's WMDP template: lettered choices, the letter scored."""
    import lm_eval
    from pathlib import Path
    import yaml as y
    template = y.safe_load((Path(lm_eval.__file__).parent / "tasks" / "wmdp" / "_default_template_yaml").read_text())
    ours = y.safe_load(local_task_yaml("t", Path("/x.jsonl"), "biology"))
    for key in ("doc_to_text", "doc_to_choice", "doc_to_target", "output_type"):
        assert ours[key] == template[key], key
    bio = y.safe_load((Path(lm_eval.__file__).parent / "tasks" / "wmdp" / "wmdp_bio.yaml").read_text())
    assert ours["description"] == bio["description"]  # same first line for the same subject
    assert mcq_prompt("Q?", ["a", "b", "c", "d"], "biology").endswith("Q?\nA. a\nB. b\nC. c\nD. d\nAnswer:")


def _own_accuracy(model, tok, rows, subject, instruction=""):
    """lm-eval's multiple_choice 'acc' by hand: the context, then ' A'..' D'; the most likely letter.
    An instruction (lm-eval's system_instruction) comes first, a blank line before the prompt."""
    right = 0
    for r in rows:
        ctx = (instruction + "\n\n" if instruction else "") + mcq_prompt(r["question"], r["choices"], subject)
        c_ids = tok(ctx, add_special_tokens=False)["input_ids"]
        scores = []
        for letter in "ABCD":
            ids = tok(ctx + " " + letter, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                lp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), -1)
            scores.append(sum(lp[t - 1, ids[t]].item() for t in range(len(c_ids), len(ids))))
        right += int(max(range(4), key=lambda i: scores[i]) == r["answer"])
    return right / len(rows)


def _tiny(tmp_path):
    files = world.generate("tiny", 0)
    texts = [r["question"] + " " + r["answer"] for r in files["full"]] + [json.dumps(ROWS), mcq_prompt("Q", list("abcd"), "x")]
    tok = train_tokenizer(texts, 300, tmp_path / "tok")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                         max_position_embeddings=128, pad_token_id=tok.pad_token_id))
    return model, tok


def test_lm_eval_end_to_end_on_an_in_memory_model(tmp_path):
    model, tok = _tiny(tmp_path)
    inc = tmp_path / "tasks"
    inc.mkdir()
    data = _jsonl(tmp_path / "mcq.jsonl", ROWS)
    (inc / "synth_mcq.yaml").write_text(local_task_yaml("synth_mcq", data, "geography"))
    model.train()
    tok.pad_token = None  # lm-eval would set one; it must not leak out
    acc = accuracy(model, tok, inc, ["synth_mcq"], batch_size=4)
    assert model.training and tok.pad_token is None
    assert acc["synth_mcq"] == (pytest.approx(_own_accuracy(model.eval(), tok, ROWS, "geography")), 3)
    with pytest.raises(ConfigError, match=r"\['wmdp_bio'\] not found"):
        accuracy(model, tok, inc, ["wmdp_bio"])
    # the in-context form's pretend policy: an instruction before every prompt, scored as lm-eval builds it
    told = accuracy(model, tok, inc, ["synth_mcq"], batch_size=4, instruction="Forget geography.")
    assert told["synth_mcq"] == (pytest.approx(_own_accuracy(model.eval(), tok, ROWS, "geography", "Forget geography.")), 3)


def test_per_subject_accuracy_and_size_weighting(tmp_path, harness_cache):
    """Two hazard subjects of different sizes: each is reported, and hazard_acc weights them by size
    as lm-eval's wmdp group does (not a plain mean of the two)."""
    from harness.config import RunConfig
    from harness.tasks import Task, Splits
    from harness.families.wmdp import track as track_wmdp
    model, tok = _tiny(tmp_path)
    folder = tmp_path / "data"
    folder.mkdir()
    _jsonl(folder / "bio.jsonl", ROWS)
    _jsonl(folder / "cyber.jsonl", ROWS[:1])
    _jsonl(folder / "general.jsonl", ROWS[1:])
    for stem in ("forget", "retain"):
        _jsonl(folder / f"{stem}.jsonl", [{"text": "some text"}])
    task = Task(name="t", version=1, family="wmdp", splits=Splits(forget=["forget"], retain="retain"),
                eval={"hazard": {"bio": "biology", "cyber": "cybersecurity"}, "general": {"general": "geography"}})
    data = track_wmdp.load_data(task, str(folder), RunConfig())
    acc = track_wmdp.accuracies(model, tok, task, data, RunConfig())
    assert acc["hazard_n"] == 4 and acc["general_n"] == 2
    assert acc["bio_acc"] == pytest.approx(_own_accuracy(model, tok, ROWS, "biology"))
    assert acc["cyber_acc"] == pytest.approx(_own_accuracy(model, tok, ROWS[:1], "cybersecurity"))
    assert acc["hazard_acc"] == pytest.approx((3 * acc["bio_acc"] + acc["cyber_acc"]) / 4)


def test_real_wmdp_task_loads_both_forget_corpora_offline(tmp_path):
    """tasks/wmdp_real.yaml on fixture corpora in the cais/wmdp-corpora schema: the bio and cyber
    forget corpora become two groups of the forget set (batches alternate between them)."""
    from harness import runs
    from harness.config import load_run_config
    from harness.prompts import PromptFormatter
    _jsonl(tmp_path / "bio-forget-corpus.jsonl", [{"text": "bio doc one"}, {"text": "bio doc two"}])
    (tmp_path / "cyber-forget-corpus").mkdir()
    import pandas as pd
    pd.DataFrame([{"text": "cyber doc"}]).to_parquet(tmp_path / "cyber-forget-corpus" / "train-00000-of-00001.parquet")
    _jsonl(tmp_path / "wikitext-retain.jsonl", [{"text": "wiki text"}])
    r = runs.resolve(load_run_config(None, ["task=wmdp_real", "method=rmu", f"dataset={tmp_path}"]))
    assert r.cfg.start == "base"
    data = runs.load_data(r)
    assert data["forget"] == [["bio doc one", "bio doc two"], ["cyber doc"]] and data["mcq"] == {}
    model, tok = _tiny(tmp_path)
    forget, retain = r.track.training_sets(PromptFormatter(tok, "plain", 64), data)
    assert [e.group for e in forget] == [0, 0, 1] and len(retain) == 1
    (tmp_path / "wikitext-retain.jsonl").unlink()
    with pytest.raises(DataError, match="no file 'wikitext-retain.jsonl'"):
        runs.load_data(r)
