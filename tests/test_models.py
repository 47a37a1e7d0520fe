"""Model resolution: local directory, embedded alias, unreachable Hub id; device/dtype choice."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from minirl.models import ModelNotFoundError, load_model_and_tokenizer, pick_dtype, resolve_model
from minirl.testing import HANG_TIMEOUT_S


def test_local_dir_resolves_and_loads(tiny_model_dir):
    assert resolve_model(str(tiny_model_dir)) == str(tiny_model_dir)
    model, tok = load_model_and_tokenizer(str(tiny_model_dir), device="cpu")
    assert model.dtype == torch.float32
    assert tok.padding_side == "left" and tok.pad_token is not None


def test_missing_dir_says_what_to_pass(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model(str(tmp_path / "nope"))


def test_dir_without_config_is_rejected(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_unreachable_hub_id_gives_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("some-org/model-that-is-not-cached")
    message = str(info.value)
    assert "smollm2-135m" in message and "--model.name" in message and "not in the local" in message


def test_unreachable_hub_id_without_offline_flag(monkeypatch, tmp_path):
    # No network here: the download fails fast and the same advice comes back (not a stack trace).
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    code = (
        "from minirl.models import resolve_model, ModelNotFoundError\n"
        "try:\n    resolve_model('some-org/model-that-is-not-cached')\n"
        "except ModelNotFoundError as e:\n    print('CLEAR', e)\n"
    )
    env = {
        **__import__("os").environ,
        "HF_HUB_OFFLINE": "0",
        "HF_HOME": str(tmp_path),
        "HF_HUB_ETAG_TIMEOUT": "5",
        "HF_HUB_DOWNLOAD_TIMEOUT": "5",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG_TIMEOUT_S, env=env
    )
    assert "CLEAR" in out.stdout, out.stderr[-2000:]


def test_dtype_choice():
    assert pick_dtype("cpu") == torch.float32
    assert pick_dtype("cpu", "bf16") == torch.bfloat16
    with pytest.raises(ValueError, match="Unknown dtype"):
        pick_dtype("cpu", "fp8")


@pytest.mark.slow
def test_embedded_model_second_load_is_fast_and_chats(monkeypatch):
    """Fast = the second load converts nothing (work counted, not seconds: a loaded machine is slow at anything)."""
    import minirl.embedded as embedded

    resolve_model("smollm2-135m")  # first use converts (once per machine)

    def no_second_conversion(*args, **kwargs):
        raise AssertionError("the second load converted the GGUF again")

    monkeypatch.setattr(embedded, "_convert", no_second_conversion)
    monkeypatch.setattr(embedded, "_download_gguf", no_second_conversion)
    model, tok = load_model_and_tokenizer("smollm2-135m", device="cpu")
    assert "quantization_config" not in model.config.to_dict()
    assert tok.chat_template
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    enc = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**enc, max_new_tokens=12, do_sample=False)
    text = tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in text, text
