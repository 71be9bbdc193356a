"""maml_core.heads: the one place the N-way head is set, kept, reshaped or replaced."""

from __future__ import annotations

import pytest
import torch

from maml_core import heads


def head(n: int = 3, d: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"body.w": torch.randn(d, d, generator=g), "head.weight": torch.randn(n, d, generator=g),
            "head.bias": torch.randn(n, generator=g)}


def test_a_start_at_chance_for_each_mode():
    p = head()
    heads.at_chance(p, "zero")
    assert not p["head.weight"].any() and not p["head.bias"].any()
    p, q = head(), head()
    heads.at_chance(p, "shared")
    assert torch.allclose(p["head.weight"], q["head.weight"].mean(0).expand(3, 4))
    heads.at_chance(q, "shared", row="first")
    assert torch.equal(q["head.weight"], head()["head.weight"][:1].expand(3, 4))
    r = head()
    heads.at_chance(r, "learned")
    assert torch.equal(r["head.weight"], head()["head.weight"])


def test_a_shared_head_gets_the_sum_of_its_rows_gradients():
    g = head()
    heads.shared_gradient(g, "shared")
    assert torch.allclose(g["head.weight"], head()["head.weight"].sum(0).expand(3, 4))
    assert torch.equal(g["body.w"], head()["body.w"])


def test_a_fresh_zero_head_keeps_the_features_and_leaves_the_input_alone():
    p = head()
    out = heads.fresh_zero(p, 20)
    assert out["head.weight"].shape == (20, 4) and not out["head.weight"].any()
    assert torch.equal(out["body.w"], p["body.w"])
    assert out["body.w"] is not p["body.w"] and p["head.weight"].shape == (3, 4)


def test_fit_narrows_any_head_and_widens_only_an_all_equal_one():
    assert heads.fit(head(), 2)["head.weight"].shape == (2, 4)
    zero = head()
    heads.at_chance(zero, "zero")
    assert heads.fit(zero, 20)["head.bias"].shape == (20,)
    with pytest.raises(ValueError, match="cannot classify 20 ways; choose at most 3 ways"):
        heads.fit(head(), 20)
