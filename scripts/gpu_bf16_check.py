"""A 0.83B-parameter Llama shape (random weights, the default world's tokenizer) through a few methods
in bf16 on the GPU (GradDiff full, NPO under LoRA, RMU at the WMDP 7B settings, LoKU): checks device
placement, dtype, reference handling and memory end to end. The forgetting numbers mean nothing
(random weights); they show the paths work at scale."""
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
CASES = [  # (method, extra overrides): full fine-tuning and LoRA, reference copies and hidden states
    ("graddiff", []),
    ("npo", ["adapter.kind=lora"]),
    ("rmu", ["method_args.layer=7", "method_args.steering_coeff=6.5", "method_args.alpha=1200", "unlearn.lr=5e-5"]),
    ("loku", ["adapter.kind=lora"]),
]
for method, extra in CASES:
    torch.cuda.reset_peak_memory_stats()
    rc = main(["run", f"method={method}", "task=tofu_forget10", f"model.target={folder}", f"model.retain={folder}",
               "unlearn.lr=1e-5", "unlearn.epochs=1", "unlearn.batch_size=8", "eval.max_new_tokens=16",
               "unlearn.save_model=false", f"results_dir={out / 'bf16'}", "--quiet", *extra])
    run = next(p for p in (out / "bf16" / "runs").iterdir() if f"-{method}" in p.name)
    compute = json.loads((run / "compute.json").read_text())
    status = json.loads((run / "status.json").read_text())["status"]
    print(f"{run.name}: rc={rc} status={status} device={compute['device']} dtype={compute['dtype']} "
          f"trainable={compute['trainable_params']} steps={compute['steps']} unlearn_s={compute['unlearn_s']:.2f} "
          f"eval_s={compute.get('eval_s', 0):.2f} peak_GiB={torch.cuda.max_memory_allocated() / 2**30:.1f}")
