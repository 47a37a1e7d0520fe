"""Tiny, offline stand-ins for a real model: a byte-level tokenizer and a 2-layer llama.

Tests, notebooks in fast mode and the smoke runs of the recipes use these so that nothing touches
the network. The tokenizer is byte-level BPE with no merges (one token per byte, 256 + 3 special
tokens), so any unicode text round-trips; it has a ChatML chat template like SmolLM2's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import time
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
HANG_TIMEOUT_S = 900
"""Time limit for a test's subprocess or notebook cell: a guard against hangs, not a speed check. Generous, because a
2-core machine shared with a training run can be many times slower than an idle one (docs/architecture.md, section
Side parts)."""


def run_or_dump(cmd: list[str], env: dict[str, str], cwd: str | Path, timeout: float = HANG_TIMEOUT_S):
    """``subprocess.run(cmd, capture_output=True, text=True)`` for a command that may start its own children
    (``torchrun`` starts each rank in a session of its own), with a hang turned into a diagnosis: past ``timeout``
    the command and every process below it get SIGABRT, so Python's fault handler (switched on here) prints each
    thread's stack, and the call raises ``AssertionError`` with the end of that output instead of leaving ranks behind.

    >>> import sys
    >>> run_or_dump([sys.executable, "-c", "print('ok')"], env=dict(os.environ), cwd=".").stdout
    'ok\\n'
    """
    env = {**env, "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        family = [*_descendants(proc.pid), proc.pid]
        for sig in (signal.SIGABRT, signal.SIGKILL):
            for pid in family:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            if sig == signal.SIGABRT:
                time.sleep(5)  # let the fault handlers write before the kill
        out, err = proc.communicate()
        raise AssertionError(
            f"hung for {timeout:.0f} s: {' '.join(cmd)}\n{out[-4000:]}\n{err[-8000:]}"
        ) from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def changed(cfg, **sections: dict):
    """A copy of the config ``cfg`` with some fields of some sections changed, each changed section built anew (its
    ``__post_init__`` checks it), the others shared: how tests vary a base config in code.

    >>> from minirl.config import TrainConfig
    >>> changed(TrainConfig(), run={"max_steps": 2}, grpo={"beta": 0.04}).run.max_steps
    2
    """
    new = {name: dataclasses.replace(getattr(cfg, name), **values) for name, values in sections.items()}
    return dataclasses.replace(cfg, **new)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux ``/proc``; empty elsewhere), children before their parents."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [*_descendants(child), child]
    return found


def make_tiny_tokenizer():
    """Build a byte-level tokenizer with a ChatML chat template, without any download.

    >>> tok = make_tiny_tokenizer()
    >>> tok.decode(tok("héllo 你好").input_ids)
    'héllo 你好'
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS,
    )
    tok.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS})
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "left"
    return tok


def make_tiny_model(vocab_size: int, seed: int = 0, num_layers: int = 2, hidden_size: int = 64):
    """A randomly initialised llama with ``num_layers`` layers, in fp32 on the CPU."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).float()


def save_tiny_checkpoint(path: str | Path, seed: int = 0, num_layers: int = 2) -> Path:
    """Write a tiny model + tokenizer checkpoint (safetensors) to ``path`` and return it."""
    path = Path(path)
    tok = make_tiny_tokenizer()
    model = make_tiny_model(len(tok), seed=seed, num_layers=num_layers)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
