"""Base, target and retain models: built from scratch (default) or loaded from any HF id / path.

TOFU's recipe at small scale: a tokenizer and a small Llama are trained on the world's general
knowledge (base); the target is the base fine-tuned on every fictitious author; the retain model is
the base fine-tuned on the retain authors only, same recipe and seed. Each model is saved with
save_pretrained under .cache/models/<role>-<hash>, the hash covering everything that made it, so a
cached model is reused only when nothing that produced it changed.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import torch

from harness import distributed as dist
from harness.claim import Busy, build_once, waiting
from harness.config import ConfigError, RunConfig
from harness.data import load_split
from harness.io import atomic_dir, portable, read_jsonl, shorten, stable_hash, write_json_atomic
from harness.progress import say
from harness.prompts import Encoded, PromptFormatter
from harness.tasks import Task
from harness.train import finetune

REPO = Path(__file__).resolve().parent.parent
TRAIN_FORMAT_VERSION = 1  # bump when training code changes what a cached model would be
from harness.packaged import META  # noqa: E402 - a model folder's record, written last (one definition)


def cache_root() -> Path:
    from harness.io import cache_root as root  # one definition (results record paths relative to it)
    return root()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"model.device={name} but no CUDA device is visible; use model.device=cpu")
    if name == "cuda" and dist.launched():  # one GPU per process of a launched run
        return torch.device("cuda", dist.local_rank())
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device):
    """'auto': on a GPU, the checkpoint's own dtype (real models ship in bf16; the tiny default models
    are saved in fp32, where bf16 would buy nothing and cost memorisation); on a CPU, fp32."""
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if name == "auto":
        return "auto" if device.type == "cuda" else torch.float32
    if name not in table:
        raise ConfigError(f"model.dtype: expected auto, {', '.join(table)}; got '{name}'")
    return table[name]


def pad_id(tok) -> int:
    return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


def load_tokenizer(ref: str):
    from transformers import AutoTokenizer
    try:
        return AutoTokenizer.from_pretrained(ref)
    except Exception as e:  # noqa: BLE001
        raise ConfigError(f"tokenizer '{ref}' could not be loaded ({type(e).__name__}); "
                          f"offline, give a local folder saved with save_pretrained") from None


def load_model(ref: str, dtype: str = "auto", device: str = "auto"):
    import transformers
    from transformers import AutoModelForCausalLM
    transformers.utils.logging.disable_progress_bar()
    dev = resolve_device(device)
    from harness.ensemble import is_ensemble, load_ensemble
    if is_ensemble(ref):  # SISA's constituents behind one model (harness/forms/sisa.py)
        load = lambda path: load_model(path, dtype, device)  # noqa: E731 - a constituent, or the adapters' base
        return load_ensemble(ref, load, load).eval()
    adapter = (Path(ref) / "adapter_config.json").exists()
    if adapter:  # a LoRA adapter saved alone: base + adapter
        from peft import AutoPeftModelForCausalLM as AutoModelForCausalLM  # noqa: N814
    try:
        model = AutoModelForCausalLM.from_pretrained(ref, dtype=resolve_dtype(dtype, dev))
    except Exception as e:  # noqa: BLE001
        raise ConfigError(f"model '{ref}' could not be loaded ({type(e).__name__}: {shorten(str(e), 120)}); "
                          f"offline, give a local folder saved with save_pretrained") from None
    if adapter:  # + the frozen weights the unlearning changed (LoKU's set-up): the model that was evaluated
        from harness.adapters import load_base
        load_base(model, Path(ref))
    return model.to(dev).eval()


def open_model(ref: str, cfg: RunConfig, context: tuple = (), load: bool = True):
    """(model, tokenizer, prompt formatter) of a model folder or id, opened as every run, reference
    measurement and attack opens one (the config's dtype, device and prompt). `context`: in-context
    examples before every question (the in-context probe). load=False: the model is None (a caller
    that builds it otherwise, e.g. with adapters)."""
    model = load_model(ref, cfg.model.dtype, cfg.model.device) if load else None
    tok = load_tokenizer(ref)
    return model, tok, PromptFormatter(tok, cfg.eval.prompt_style, cfg.eval.max_length, context)


def dataset_source(cfg: RunConfig, task: Task) -> str:
    """Folder or hub id of the task's data; the synthetic world is built here when needed."""
    from harness.families import get_track
    ds = cfg.dataset or task.dataset
    build = get_track(task.family).worlds.get(ds)  # a synthetic world the family can build offline
    return str(build(cache_root(), cfg.world.profile, cfg.world.seed)) if build else ds


def training_examples(source: str, splits: list[str], fmt: PromptFormatter, replay: bool):
    """QA rows of the splits, plus (when the data has them) their extra phrasings and the base corpus."""
    rows = [r for split in splits for r in load_split(source, split)]
    examples = [fmt.encode(r["question"], r["answer"]) for r in rows]
    folder = Path(source)
    if (folder / "phrasings.jsonl").exists():
        qs = {r["question"] for r in rows}
        examples += [fmt.encode(p["prompt"], p["answer"])
                     for p in read_jsonl(folder / "phrasings.jsonl") if p["question"] in qs]
    return examples + replay_examples(source, fmt, replay)


def replay_examples(source: str, fmt: PromptFormatter, replay: bool) -> list[Encoded]:
    """The synthetic world's base corpus, mixed into fine-tuning when the recipe asks (keeps what the
    base model knew); none for real data, which has no such file."""
    folder = Path(source)
    if not replay or not (folder / "pretrain.jsonl").exists():
        return []
    return [pretrain_example(fmt, p) for p in read_jsonl(folder / "pretrain.jsonl")]


def _train_and_save(out: Path, model, tok, examples, recipe, seed, desc, meta, progress, merge=None) -> None:
    say(f"{desc}: {len(examples)} examples x {recipe.epochs} epochs, "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters -> {out}")
    t0 = time.perf_counter()
    stats = finetune(model, examples, recipe, seed, tok.pad_token_id or tok.eos_token_id, desc, progress)
    if merge is not None:  # LoRA fine-tuning: the adapters folded into a plain model
        stats["trainable_params"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
        model = merge(model)
    stats["seconds"] = time.perf_counter() - t0
    stats["params"] = sum(p.numel() for p in model.parameters())
    save_trained(out, model, tok, {**meta, "train": stats})


def save_trained(out: Path, model, tok, meta: dict) -> None:
    """A trained model folder, written atomically, its META (with the training record) last. The
    training record names the device type it trained on and how many (one: the harness trains a model
    in one process): its seconds compare only with seconds on the same kind of device (harness/cost.py)."""
    if "train" in meta:
        dev = next(model.parameters()).device
        meta = {**meta, "train": {"device_type": dev.type, "device_count": 1, **meta["train"]}}
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        write_json_atomic(tmp / META, meta)


def pretrain_example(fmt: PromptFormatter, row: dict) -> Encoded:
    """A pretraining row: a QA pair or a document (prompt ''); a row marked raw is a prompt taken as
    is, tokenised exactly as lm-eval tokenises a context and its continuation (no BOS, no EOS), so
    practice questions in WMDP's prompt match what the evaluation scores."""
    if not row.get("raw"):
        return fmt.encode(row["prompt"], row["answer"])
    tok = fmt.tok
    whole = tok(row["prompt"] + row["answer"], add_special_tokens=False)["input_ids"]
    ctx = tok(row["prompt"], add_special_tokens=False)["input_ids"]
    return Encoded(whole[:len(ctx)], whole[len(ctx):])


def recipe_key(recipe) -> dict:
    """A training recipe as its models' keys hold it: lora_rank and seed only when set, so the keys of
    models trained before they existed (full fine-tuning, the world's seed) are unchanged."""
    d = asdict(recipe)
    return {k: v for k, v in d.items() if (k != "lora_rank" or v) and (k != "seed" or v is not None)}


def _default_base(cfg: RunConfig, source: str, progress: bool) -> tuple[Path, str]:
    """Tokenizer + from-scratch Llama pretrained on the world's general knowledge (cached)."""
    folder = Path(source)
    if not (folder / "pretrain.jsonl").exists():
        raise ConfigError(f"model.base=default needs the synthetic world's pretrain.jsonl, not found in "
                          f"'{source}'; with a real dataset, set model.base to a pretrained model")
    key = stable_hash({"v": TRAIN_FORMAT_VERSION, "world": folder.name, "arch": asdict(cfg.model.arch),
                       "recipe": recipe_key(cfg.model.pretrain), "seed": cfg.world.seed})
    out = cache_root() / "models" / f"base-{key}"
    # another process training the same model: wait for it, then reuse it
    build_once(out, out / META, lambda: _pretrain(cfg, folder, out, key, progress))
    return out, key


def _pretrain(cfg: RunConfig, folder: Path, out: Path, key: str, progress: bool) -> None:
    """Tokenizer and a from-scratch Llama trained on the world's pretraining rows."""
    from harness.tokenizer import train_tokenizer
    texts = []
    for f in sorted(folder.rglob("*.jsonl")):  # every file of the world (muse: <config>/<split>.jsonl)
        for r in read_jsonl(f):
            texts += [v if isinstance(v, str) else " ".join(v) for v in r.values() if isinstance(v, (str, list))]
    tok = train_tokenizer(texts, cfg.model.arch.vocab_size, cache_root() / "tokenizers" / key)
    _pretrain_rows(cfg, tok, read_jsonl(folder / "pretrain.jsonl"), out, "pretrain base", {"role": "base", "key": key},
                   progress)


def _pretrain_rows(cfg: RunConfig, tok, rows: list[dict], out: Path, desc: str, meta: dict, progress: bool) -> None:
    """A from-scratch Llama (initialised from the world seed) trained on `rows` with the pretraining
    recipe, saved with `tok` under `out`."""
    from transformers import LlamaConfig, LlamaForCausalLM
    a = cfg.model.arch
    seed = cfg.world.seed if cfg.model.pretrain.seed is None else cfg.model.pretrain.seed
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=a.hidden_size, intermediate_size=a.intermediate_size,
        num_hidden_layers=a.num_layers, num_attention_heads=a.num_heads, num_key_value_heads=a.num_heads,
        max_position_embeddings=a.max_position, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=True))
    model.to(resolve_device(cfg.model.device))
    fmt = PromptFormatter(tok, "plain", a.max_position)
    examples = [pretrain_example(fmt, p) for p in rows]
    _train_and_save(out, model, tok, examples, cfg.model.pretrain, seed, desc, meta, progress)


def control_base(cfg: RunConfig, source: str, without: list[str], progress: bool = True) -> Path:
    """The hazard track's control model: the default base's twin (same tokenizer, architecture,
    initialisation, recipe and seed) pretrained on the world's pretraining rows minus the documents in
    `without` (the evaluated hazard entities' corpus documents; the format entities' documents and
    practice questions stay, so it reads the MCQ format as the base does). It never learned what the
    hazard questions ask, as the retain model never learned TOFU's forget authors: an attack that
    raises its hazard accuracy shows what the attack alone explains (Łucki et al. 2024 relearn on
    the hazard corpus; the control separates relearning from learning). Cached under
    .cache/models/control-<hash> and built once under a claim, like the other models."""
    folder = Path(source)
    base, base_key = _default_base(cfg, source, progress)
    drop = set(without)
    rows = read_jsonl(folder / "pretrain.jsonl")
    kept = [p for p in rows if p.get("prompt") or p.get("raw") or p["answer"] not in drop]
    if not drop or len(rows) - len(kept) != len(drop):
        raise ConfigError(f"{folder / 'pretrain.jsonl'}: holds {len(rows) - len(kept)} of the {len(drop)} "
                          f"documents the control base is to be trained without")
    key = stable_hash({"v": TRAIN_FORMAT_VERSION, "base": base_key, "without": stable_hash(sorted(drop))})
    out = cache_root() / "models" / f"control-{key}"
    meta = {"role": "control", "key": key, "base": portable(base), "without_documents": len(drop)}
    build_once(out, out / META, lambda: _pretrain_rows(cfg, load_tokenizer(str(base)), kept, out,
                                                       f"pretrain control base (without {len(drop)} documents)",
                                                       meta, progress))
    return out


def _fine_tune(path: Path, base: str, tok, examples: list, cfg: RunConfig, meta: dict, progress: bool) -> None:
    m = cfg.model
    model = load_model(base, m.dtype, m.device)
    if m.finetune.lora_rank:  # adapters on every linear layer, merged into the weights before saving
        from peft import LoraConfig, get_peft_model
        linear = sorted({n.rsplit(".", 1)[-1] for n, mod in model.named_modules()
                         if isinstance(mod, torch.nn.Linear) and "lm_head" not in n})
        model = get_peft_model(model, LoraConfig(r=m.finetune.lora_rank, lora_alpha=2 * m.finetune.lora_rank,
                                                 target_modules=linear, lora_dropout=0.0))
        merge = lambda trained: trained.merge_and_unload()  # noqa: E731
    else:
        merge = None
    _train_and_save(path, model, tok, examples, m.finetune, finetune_seed(cfg),
                    f"fine-tune {meta['role']} on {meta['split']}", meta, progress, merge)


def finetune_seed(cfg: RunConfig) -> int:
    """The target's and retain model's training seed: model.finetune.seed, else the world's."""
    return cfg.world.seed if cfg.model.finetune.seed is None else cfg.model.finetune.seed


def self_replay(base: str, base_key: str, qs: list[str], cfg: RunConfig, progress: bool) -> list[tuple[str, str]]:
    """(question, the base model's first-sentence greedy answer) for the track's held-out real-world
    questions (the fictitious-author track: harness/families/tofu/real_world.py says why, and what it
    measured), generated once per base model and prompt setting, cached under <cache>/replay/."""
    import json
    import re

    from harness.evaluate import generate

    def first_sentence(text: str) -> str:
        m = re.search(r"^(.*?[.!?])(\s|$)", text.strip(), re.S)
        return (m.group(1) if m else text).strip()
    key = stable_hash({"v": 1, "base": base_key, "questions": qs, "dtype": cfg.model.dtype, "device": cfg.model.device,
                       "eval": [cfg.eval.prompt_style, cfg.eval.max_length, cfg.eval.max_new_tokens]})
    path = cache_root() / "replay" / f"{key}.json"

    def measure() -> None:
        if progress:
            say(f"replay: the base model answers {len(qs)} held-out real-world questions")
        model, tok, fmt = open_model(base, cfg)
        gens, _ = generate(model, fmt, qs, cfg.eval, pad_id(tok), progress=False)
        write_json_atomic(path, {"base": portable(base), "pairs": [[q, first_sentence(g)] for q, g in zip(qs, gens)]})
    with waiting():  # seconds of generation that both the target and the retain model need
        build_once(path, path, measure)
    return [(q, a) for q, a in json.loads(path.read_text())["pairs"] if a]


_PREPARED: dict[str, dict] = {}  # this process's answers: a grid asks again for every run


def prepare_key(cfg: RunConfig, task: Task) -> str:
    """Everything the models of a run depend on: runs with the same key share their models."""
    return stable_hash({"model": asdict(cfg.model), "world": asdict(cfg.world), "dataset": cfg.dataset,
                        "task": [task.family, task.dataset, asdict(task.splits)], "cache": str(cache_root()),
                        "eval": [cfg.eval.prompt_style, cfg.eval.max_length]})


def prepare_models(cfg: RunConfig, task: Task, progress: bool = True) -> dict:
    """Return {'base', 'target', 'retain'}: loadable folders or ids, training them if needed.

    The answer depends only on the model, world and dataset settings, the task's family and splits,
    and how prompts are encoded; within a process it is remembered (finding a cached model means
    encoding its training data to hash it: about a second a run), as long as its folders exist."""
    key = prepare_key(cfg, task)
    known = _PREPARED.get(key)
    if known and all(Path(v, META).exists() for k, v in known.items() if k in ("base", "target", "retain")
                     and Path(v).is_dir() and str(v).startswith(str(cache_root()))):
        return dict(known)
    _PREPARED[key] = _prepare(cfg, task, progress)
    return dict(_PREPARED[key])


def base_model(cfg: RunConfig, task: Task, progress: bool = True) -> dict:
    """{'base', 'source'} alone, built if needed: what the forms' own models start from (a grid worker
    trains SISA's constituents or the DP target while the other still trains the target and retain)."""
    source = dataset_source(cfg, task)
    if cfg.model.base == "default":
        base = _default_base(cfg, source, progress)[0]
    else:
        base = base_ref(cfg.model.base, progress)
    return {"base": str(base), "source": source}


def base_ref(ref: str, progress: bool = True) -> str:
    """A model id, folder, or the name of a packaged model (harness/packaged.py: converted into the
    cache on first use, its folder returned)."""
    from harness import packaged
    return str(packaged.folder(ref, progress)) if packaged.is_packaged(ref) else ref


def _prepare(cfg: RunConfig, task: Task, progress: bool) -> dict:
    source = dataset_source(cfg, task)
    m = cfg.model
    from harness.families import get_track
    if "target" not in get_track(task.family).roles:  # e.g. the hazard track unlearns the base model itself
        return base_model(cfg, task, progress)
    if m.target and m.retain:
        return {"base": m.base if m.base == "default" else base_ref(m.base, progress), "target": m.target,
                "retain": m.retain, "source": source}
    if m.base == "default":
        base, base_key = _default_base(cfg, source, progress)
    else:  # a packaged model's folder is named by its file's SHA-256: the key follows the weights
        base = base_ref(m.base, progress)
        base_key = stable_hash(m.base if base == m.base else Path(base).name)
    out = {"base": str(base), "source": source}
    track = get_track(task.family)
    busy = None
    for role, given in (("target", m.target), ("retain", m.retain)):
        if given:
            out[role] = given
            continue
        tok = load_tokenizer(str(base))
        fmt = PromptFormatter(tok, cfg.eval.prompt_style, cfg.eval.max_length)
        splits = task.splits.model_splits(role)
        split = "+".join(splits)
        # a pretrained base has no world corpus to replay; for QA fine-tuning, its own answers instead
        real = m.base != "default"
        examples = track.model_examples(source, splits, fmt, m.finetune.replay and not real)
        questions = getattr(track, "replay_questions", None)  # the tracks that fine-tune on QA offer them
        if real and m.finetune.replay and questions:
            examples += [fmt.encode(q, a) for q, a in self_replay(str(base), base_key, questions(), cfg, progress)]
        data_hash = stable_hash([(e.prompt, e.answer) for e in examples])
        key = stable_hash({"v": TRAIN_FORMAT_VERSION, "base": base_key, "data": data_hash,
                           "recipe": recipe_key(m.finetune), "seed": cfg.world.seed})
        path = cache_root() / "models" / f"{role}-{key}"
        meta = {"role": role, "key": key, "split": split, "base": portable(base)}  # '<cache>/...': movable
        try:
            build_once(path, path / META, partial(_fine_tune, path, str(base), tok, examples, cfg, meta, progress))
        except Busy as e:  # (inside without_waiting) another process trains it: train the next role meanwhile
            busy = e
            continue
        out[role] = str(path)
    if busy is not None:
        raise busy
    return out
