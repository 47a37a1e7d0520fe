"""Shared fixtures. Everything here is offline: no test may touch the Hub."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from minirl.testing import make_tiny_model, make_tiny_tokenizer, save_tiny_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GSM8K_DIR = ROOT.parent / "shared" / "data" / "gsm8k"
GSM8K_FIXTURE_DIR = ROOT / "tests" / "data" / "gsm8k"


def pytest_collection_modifyitems(config, items):
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """Byte-level tokenizer with a ChatML chat template (built, not downloaded)."""
    return make_tiny_tokenizer()


@pytest.fixture
def tiny_model(tiny_tokenizer):
    """A fresh 2-layer random llama (fp32, CPU); new for each test so tests can train it."""
    return make_tiny_model(len(tiny_tokenizer))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """Path of a saved tiny checkpoint (config, safetensors weights, tokenizer)."""
    return save_tiny_checkpoint(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def gsm8k_fixture_dir():
    """Our own GSM8K-format rows (20 train, 6 test) inside tests/: for tests that need the format, not the data."""
    return GSM8K_FIXTURE_DIR


@pytest.fixture(scope="session")
def gsm8k_dir():
    """The real shared GSM8K jsonl folder beside the project root; tests needing it skip without it."""
    if not (GSM8K_DIR / "train.jsonl").exists():
        pytest.skip(f"GSM8K not found at {GSM8K_DIR}")
    return GSM8K_DIR
