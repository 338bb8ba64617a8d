"""WMDP-schema loaders (offline fixture rows) and one tiny end-to-end lm-eval evaluation."""
import json

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from harness import world
from harness.config import ConfigError
from harness.data import DataError
from harness.mcq import accuracy, check_task_yaml, load_corpus, load_mcq, local_task_yaml
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
    f.write_text(local_task_yaml("synth", tmp_path / "missing.jsonl"))
    with pytest.raises(ConfigError, match="missing.jsonl' \\(test\\) does not exist"):
        check_task_yaml(f)


def _own_accuracy(model, tok, rows):
    """Sum of continuation log-probs per choice, as lm-eval's multiple_choice 'acc' defines it."""
    right = 0
    for r in rows:
        ctx = f"Question: {r['question'].strip()}\nAnswer:"
        scores = []
        for c in r["choices"]:
            c_ids = tok(ctx)["input_ids"]
            ids = tok(ctx + " " + c)["input_ids"]
            with torch.no_grad():
                lp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), -1)
            scores.append(sum(lp[t - 1, ids[t]].item() for t in range(len(c_ids), len(ids))))
        right += int(max(range(4), key=lambda i: scores[i]) == r["answer"])
    return right / len(rows)


def test_lm_eval_end_to_end_on_an_in_memory_model(tmp_path):
    files = world.generate("tiny", 0)
    texts = [r["question"] + " " + r["answer"] for r in files["full"]] + [json.dumps(ROWS)]
    tok = train_tokenizer(texts, 300, tmp_path / "tok")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                         max_position_embeddings=64, pad_token_id=tok.pad_token_id))
    inc = tmp_path / "tasks"
    inc.mkdir()
    data = _jsonl(tmp_path / "mcq.jsonl", ROWS)
    (inc / "synth_mcq.yaml").write_text(local_task_yaml("synth_mcq", data))
    model.train()
    tok.pad_token = None  # lm-eval would set one; it must not leak out
    acc = accuracy(model, tok, inc, ["synth_mcq"], batch_size=4)
    assert model.training and tok.pad_token is None
    assert acc["synth_mcq"] == pytest.approx(_own_accuracy(model.eval(), tok, ROWS))
    with pytest.raises(ConfigError, match=r"\['wmdp_bio'\] not found"):
        accuracy(model, tok, inc, ["wmdp_bio"])
