"""A 1B-parameter Llama shape (random weights, the default world's tokenizer) through one GradDiff run
in bf16 on the GPU: checks device placement and dtype end to end and reports unlearning throughput.
The numbers mean nothing about forgetting (random weights); they show the path works at scale."""
import json
import sys
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from harness.cli import main
from harness.models import cache_root

out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/gpu_check")
tok_dir = next((cache_root() / "tokenizers").iterdir())
tok = AutoTokenizer.from_pretrained(tok_dir)
folder = out / "llama1b"
with torch.device("cuda"):
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=2048, intermediate_size=5632, num_hidden_layers=16,
        num_attention_heads=16, num_key_value_heads=16, max_position_embeddings=256,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        dtype=torch.bfloat16))
print("params", sum(p.numel() for p in model.parameters()))
model.to(torch.bfloat16).save_pretrained(folder)
tok.save_pretrained(folder)
del model
torch.cuda.reset_peak_memory_stats()
rc = main(["run", "method=graddiff", "task=tofu_forget10", f"model.target={folder}", f"model.retain={folder}",
           "unlearn.lr=1e-5", "unlearn.epochs=1", "unlearn.batch_size=8", "eval.max_new_tokens=16",
           "unlearn.save_model=false", f"results_dir={out / 'bf16'}", "--quiet"])
run = next((out / "bf16" / "runs").iterdir())
compute = json.loads((run / "compute.json").read_text())
metrics = json.loads((run / "metrics.json").read_text())
print("rc", rc, "status", json.loads((run / "status.json").read_text())["status"])
print("compute", json.dumps(compute))
print("tokens/s unlearning", compute["tokens_forward"] / compute["unlearn_s"])
print("peak GPU GiB", torch.cuda.max_memory_allocated() / 2**30)
print("forget_quality", metrics["forget_quality"], "model_utility", metrics["model_utility"])
