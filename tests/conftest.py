"""Shared fixtures for the engine tests (small on purpose: test files keep their own helpers)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from maml_core import OmniglotData

ROOT = Path(__file__).resolve().parent.parent

# The tests use tiny tensors: one intra-op thread is 3-4x faster than two fighting other processes
# for a busy 2-core machine (measured: 6 s against 25 s for test_algorithm + test_models).
torch.set_num_threads(int(os.environ.get("MAML_TEST_THREADS", "1")))


def synthetic_omniglot(n_chars: int = 30, n_alphabets: int = 5, seed: int = 0) -> OmniglotData:
    """Random 'characters' (C, 20, 1, 28, 28) uint8 named like the real ones ('Alphabet_k/characterNN')."""
    g = torch.Generator().manual_seed(seed)
    images = (torch.rand(n_chars, 20, 1, 28, 28, generator=g) > 0.8).to(torch.uint8) * 255
    names = tuple(f"Alphabet_{c % n_alphabets}/character{c // n_alphabets + 1:02d}" for c in range(n_chars))
    order = sorted(range(n_chars), key=lambda c: names[c])
    return OmniglotData(images[order], tuple(names[c] for c in order))


@pytest.fixture
def omniglot_data() -> OmniglotData:
    """30 random characters in 5 alphabets (no archive needed)."""
    return synthetic_omniglot()


@pytest.fixture
def real_data_dir() -> Path:
    """The official archives (env MAML_DATA_DIR, e.g. ../shared/omniglot); the test is skipped if unset."""
    value = os.environ.get("MAML_DATA_DIR")
    if not value:
        pytest.skip("MAML_DATA_DIR is not set (point it at the folder holding the Omniglot zip archives)")
    path = Path(value)
    if not path.is_absolute():
        path = (ROOT / path).resolve() if (ROOT / path).exists() else path.resolve()
    return path
