"""Shared fixtures for the engine tests (small on purpose: test files keep their own helpers)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from benchmarks.harness import synthetic_omniglot
from maml_core import OmniglotData

ROOT = Path(__file__).resolve().parent.parent

# The tests use tiny tensors: one intra-op thread is 3-4x faster than two fighting other processes
# for a busy 2-core machine (measured: 6 s against 25 s for test_algorithm + test_models).
torch.set_num_threads(int(os.environ.get("MAML_TEST_THREADS", "1")))


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
