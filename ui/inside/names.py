"""Names the Inside MAML page gives things, on its charts and in its sentences (a leaf: imports nothing of ui/)."""

from __future__ import annotations

from ..common import METHOD_LABELS

DIRECTION_LABELS = {"maml": "MAML", "fomaml": "FO-MAML", "reptile": "Reptile", "pretrain": "Pretraining"}

LAYER_NAMES = {"net.0": "layer 1", "net.2": "layer 2", "net.4": "output layer"}


def label(method: str) -> str:
    """A start's name (the methods' labels on every page)."""
    return METHOD_LABELS.get(method, method)


def layer_label(name: str) -> str:
    mod, _, kind = name.rpartition(".")
    if not mod:
        return name
    return f"{LAYER_NAMES.get(mod, mod)} {'weights' if kind == 'weight' else kind}"
