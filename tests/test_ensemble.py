"""SISA's aggregated model (harness/ensemble.py): hand-computed aggregation, greedy decoding that matches
a step-by-step reference and HF generate, save/load, and lm-eval's HFLM scoring it unchanged."""
import json
import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from harness.ensemble import Ensemble, is_ensemble
from harness.families.wmdp.mcq import accuracy, local_task_yaml, mcq_prompt
from harness.tokenizer import train_tokenizer
from harness.families.tofu import world as world


class Fixed(torch.nn.Module):
    """A 'model' whose next-token distribution is the same everywhere: logits = log p."""

    def __init__(self, probs):
        super().__init__()
        self.logp = torch.nn.Parameter(torch.log(torch.tensor(probs)))
        self.config = LlamaConfig(vocab_size=len(probs))

    def forward(self, input_ids=None, attention_mask=None, **_):
        from transformers.modeling_outputs import CausalLMOutputWithPast
        return CausalLMOutputWithPast(logits=self.logp.expand(*input_ids.shape, -1))


def test_aggregation_by_hand():
    a, b = Fixed([0.8, 0.2]), Fixed([0.4, 0.6])
    ids = torch.zeros(1, 3, dtype=torch.long)
    mean = Ensemble([a, b], "prob")(input_ids=ids).logits[0, 0]
    assert mean.exp().tolist() == pytest.approx([0.6, 0.4])  # (0.8 + 0.4) / 2, (0.2 + 0.6) / 2
    geo = Ensemble([a, b], "logprob")(input_ids=ids).logits[0, 0]
    g = [math.sqrt(0.8 * 0.4), math.sqrt(0.2 * 0.6)]  # normalised geometric mean
    assert geo.exp().tolist() == pytest.approx([g[0] / sum(g), g[1] / sum(g)])
    with pytest.raises(ValueError, match="ensemble rule"):
        Ensemble([a], "vote")


def _models(vocab: int, n: int):
    out = []
    for seed in range(n):
        torch.manual_seed(seed)
        out.append(LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                                                num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                                max_position_embeddings=64, pad_token_id=0, eos_token_id=1,
                                                bos_token_id=2)).eval())
    return out


def _left_padded():
    ids = torch.tensor([[0, 0, 5, 6, 7], [8, 9, 10, 11, 12]])
    return ids, (ids != 0).long()


def test_generate_matches_a_step_by_step_reference():
    ens = Ensemble(_models(40, 2))
    ids, mask = _left_padded()
    got = ens.generate(ids, attention_mask=mask, max_new_tokens=6, pad_token_id=0, eos_token_id=1)
    # reference: no cache, the whole sequence again at every step, the aggregate's argmax
    seq, m, pos = ids.clone(), mask.clone(), None
    for _ in range(6):
        pos = (m.cumsum(-1) - 1).clamp(min=0)
        logits = ens.combine([mm(input_ids=seq, attention_mask=m, position_ids=pos).logits[:, -1]
                              for mm in ens.members])
        seq = torch.cat([seq, logits.argmax(-1, keepdim=True)], 1)
        m = torch.cat([m, torch.ones(2, 1, dtype=torch.long)], 1)
    eos_at = [(row == 1).nonzero() for row in seq[:, 5:]]
    for i in range(2):  # after an eos, HF pads; compare up to and including the first eos
        end = int(eos_at[i][0]) + 1 if len(eos_at[i]) else 6
        assert got[i, 5:5 + end].tolist() == seq[i, 5:5 + end].tolist()


def test_one_member_ensemble_decodes_as_the_model_does():
    (model,) = _models(40, 1)
    ids, mask = _left_padded()
    ours = Ensemble([model]).generate(ids, attention_mask=mask, max_new_tokens=8, pad_token_id=0, eos_token_id=1)
    hf = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=8, do_sample=False, pad_token_id=0,
                        eos_token_id=1)
    n = min(ours.shape[1], hf.shape[1])
    assert ours[:, :n].tolist() == hf[:, :n].tolist()


def test_save_and_load(tmp_path):
    from harness.models import load_model
    ens = Ensemble(_models(40, 2), "logprob")
    ens.save_pretrained(tmp_path / "m")
    assert is_ensemble(str(tmp_path / "m"))
    back = load_model(str(tmp_path / "m"), device="cpu")
    assert isinstance(back, Ensemble) and back.rule == "logprob" and len(back.members) == 2
    ids = torch.tensor([[3, 4, 5]])
    assert torch.allclose(back(input_ids=ids).logits, ens(input_ids=ids).logits, atol=1e-6)


def test_lm_eval_scores_the_ensemble(tmp_path):
    rows = [{"question": "What is the capital of France?", "choices": ["Paris", "Rome", "Oslo", "Lima"], "answer": 0},
            {"question": "What is the capital of Peru?", "choices": ["Paris", "Rome", "Oslo", "Lima"], "answer": 3}]
    files = world.generate("tiny", 0)
    tok = train_tokenizer([r["question"] + " " + r["answer"] for r in files["full"]] +
                          [json.dumps(rows), mcq_prompt("Q", list("abcd"), "x")], 300, tmp_path / "tok")
    ens = Ensemble(_models(len(tok), 2))
    inc = tmp_path / "tasks"
    inc.mkdir()
    data = tmp_path / "mcq.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (inc / "synth_mcq.yaml").write_text(local_task_yaml("synth_mcq", data, "geography"))
    acc, n = accuracy(ens, tok, inc, ["synth_mcq"], batch_size=2)["synth_mcq"]
    right = 0  # by hand: the aggregate's log-probability of ' A'..' D' after the prompt
    for r in rows:
        ctx = mcq_prompt(r["question"], r["choices"], "geography")
        c = len(tok(ctx, add_special_tokens=False)["input_ids"])
        scores = []
        for letter in "ABCD":
            ids = tok(ctx + " " + letter, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                lp = torch.log_softmax(ens(input_ids=torch.tensor([ids])).logits[0], -1)
            scores.append(sum(lp[t - 1, ids[t]].item() for t in range(c, len(ids))))
        right += int(max(range(4), key=scores.__getitem__) == r["answer"])
    assert n == 2 and acc == pytest.approx(right / 2)
