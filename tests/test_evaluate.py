"""The evaluator on a collapsed model: extreme numbers, never an overflow or a crash."""
import math

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from harness.families.tofu import world as world
from harness.config import EvalConfig
from harness.data import load_split
from harness.families.tofu.qa import evaluate_sets, mia_aucs, tofu_metrics
from harness.prompts import PromptFormatter
from harness.tokenizer import train_tokenizer


def test_a_collapsed_model_is_evaluated(tmp_path):
    d = world.build(tmp_path, "tiny", 0)
    sets = {"forget": "forget10_perturbed", "retain": "retain_perturbed", "real_authors": "real_authors_perturbed",
            "world_facts": "world_facts_perturbed", "holdout": "holdout10"}
    sets = {k: load_split(str(d), v) for k, v in sets.items()}
    texts = [r["question"] + " " + r["answer"] for rows in sets.values() for r in rows]
    tok = train_tokenizer(texts, 300, tmp_path / "tok")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                         max_position_embeddings=128, pad_token_id=tok.pad_token_id))
    with torch.no_grad():  # a collapsed model: logits in the thousands, one token dominates
        model.lm_head.weight.mul_(100_000.0)
    fmt = PromptFormatter(tok, "plain", 128)
    cfg = EvalConfig(max_new_tokens=4, bootstrap=0)
    items, agg = evaluate_sets(model, fmt, sets, cfg, tok.pad_token_id, progress=False)
    nll = [v for i in items for v in i["nll_mean"].values()]
    assert max(nll) > 10_000  # exp(-NLL) underflows and R = exp(difference) would overflow
    assert any(i.get("truth_ratio", 1.0) is None for i in items if i["set"] != "holdout")
    ref = {"log_ratios": {i["id"]: 0.0 for i in items if i["set"] == "forget"}, "auc": mia_aucs(agg)}
    m = tofu_metrics(agg, ref)
    for k in ("forget_quality", "ks_stat", "model_utility", "forget_truth_ratio", "real_authors_prob",
              "world_facts_prob", "retain_truth_ratio", "privleak"):
        assert math.isfinite(m[k]), k
    assert 0.0 <= m["real_authors_prob"] <= 1.0 and m["forget_truth_ratio"] < 1e-3
