"""Frozen configuration dataclasses, one per concern, with the paper's values as defaults.

Sources: Finn, Abbeel & Levine, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep
Networks", ICML 2017 (section 5 and appendix A), and the authors' code (cbfinn/maml).
Library code reads no globals or environment variables: callers build these and pass them in.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Problem = Literal["sinusoid", "omniglot"]
Norm = Literal["tasknorm_i", "metabn", "instance", "layer", "transductive_bn"]
NORMS: tuple[str, ...] = ("tasknorm_i", "metabn", "instance", "layer", "transductive_bn")
Head = Literal["zero", "shared", "learned"]
HEADS: tuple[str, ...] = ("zero", "shared", "learned")
Algorithm = Literal["maml", "fomaml", "reptile", "pretrain", "transfer"]
EVAL_SEED = 1234  # test tasks; validation uses EVAL_SEED + 1 (never the same tasks)
ALGORITHMS: dict[str, tuple[str, ...]] = {
    "sinusoid": ("maml", "fomaml", "reptile", "pretrain"),
    "omniglot": ("maml", "fomaml", "transfer"),
}


class ConfigError(ValueError):
    """A configuration value is out of range; the message names the field and the fix."""


@dataclass(frozen=True)
class SinusoidTaskConfig:
    """The paper's sinusoid regression family (section 5.1)."""

    amplitude: tuple[float, float] = (0.1, 5.0)  # A ~ U[0.1, 5.0]
    phase: tuple[float, float] = (0.0, 3.141592653589793)  # phi ~ U[0, pi]
    x_range: tuple[float, float] = (-5.0, 5.0)  # x ~ U[-5, 5]
    k_shot: int = 10  # K support points per task (paper trains with K = 10)
    n_query: int = 10  # query points per task during meta-training (cbfinn: K)


@dataclass(frozen=True)
class OmniglotTaskConfig:
    """N-way K-shot Omniglot episodes (section 5.2)."""

    n_way: int = 5  # N
    k_shot: int = 1  # K
    n_query: int = 1  # Q queries per class during meta-training (cbfinn: 1 for 1-shot)
    rotations: bool = True  # 90/180/270 degree rotations as extra training classes (paper)
    split: Literal["character", "alphabet"] = "character"  # paper: by character
    split_fractions: tuple[float, float, float] = (0.65, 0.15, 0.20)  # train / val / test
    split_seed: int = 0
    data_dir: str = "data/omniglot"
    # Random affine distortions of training images (Koch, Zemel & Salakhutdinov 2015, section 3.3):
    # rotation +-10 deg, shear +-0.3, scale 0.8-1.2, shift +-2 px; never at evaluation.
    augment: bool = True


@dataclass(frozen=True)
class ModelConfig:
    """Network shape. Sinusoid: 1-40-40-1 ReLU MLP. Omniglot: 4 x [3x3 conv 64, norm, ReLU,
    stride-2 downsampling] + linear head (the paper uses strided convs for Omniglot)."""

    kind: Literal["mlp", "conv"] = "mlp"
    hidden: tuple[int, ...] = (40, 40)  # MLP hidden sizes (paper: two layers of 40)
    channels: int = 64  # conv filters (paper: 64)
    n_out: int = 1  # regression output, or N classes
    # conv only. Normalisation (see maml_core.models): TaskNorm-I by default (Bronskill et al., ICML 2020).
    norm: Norm = "tasknorm_i"
    # conv only. How the N-way head starts, so that step 0 gives every class 1/N:
    # "zero": the zeroing trick (zero, and reset to zero after every outer step; Kao et al., ICLR 2022);
    # "shared": one meta-learned row copied to every class (UNICORN-MAML, Ye & Chao, ICLR 2022);
    # "learned": a freely meta-learned head (the paper; favours some classes before any step).
    head: Head = "zero"


@dataclass(frozen=True)
class TrainConfig:
    """Meta-training hyper-parameters. Defaults are the paper's sinusoid values; use
    `default_config` for the problem-specific ones."""

    problem: Problem = "sinusoid"
    algo: Algorithm = "maml"
    iterations: int = 70_000  # paper: 70k sinusoid, 60k Omniglot
    meta_batch: int = 25  # tasks per meta-update (paper: 25 sinusoid, 32 / 16 Omniglot)
    inner_steps: int = 1  # gradient steps in the inner loop (paper: 1 sinusoid / 5-way)
    inner_lr: float = 0.01  # alpha (paper: 0.01 sinusoid, 0.4 5-way, 0.1 20-way)
    meta_lr: float = 0.001  # beta, Adam (paper: 0.001)
    seed: int = 0
    eval_steps: int = 10  # inner steps used at test time (chosen on validation data)
    val_every: int = 1000  # iterations between validation checks (Omniglot model selection)
    val_tasks: int = 200
    # MAML++ options (Antoniou, Edwards & Storkey, "How to train your MAML", ICLR 2019), off by default:
    meta_lr_schedule: Literal["constant", "cosine"] = "constant"  # cosine annealing of beta to beta / 100 (CA)
    first_order_iterations: int = 0  # maml: first-order for this many iterations, then second-order (DA)
    multi_step_loss_iterations: int = 0  # weights on every step's query loss, annealed to the last step (MSL)
    learn_inner_lr: bool = False  # maml/fomaml: one learned inner lr per parameter tensor and inner step (LSLR)
    # Reptile's outer step epsilon (theta += epsilon (phi - theta)), annealed linearly to 0 over the run as in
    # Nichol, Achiam & Schulman (2018) and their sinusoid demo (joschu's reptile-sinewaves gist); Adam is not used.
    outer_step: float = 1.0
    sinusoid: SinusoidTaskConfig = field(default_factory=SinusoidTaskConfig)
    omniglot: OmniglotTaskConfig = field(default_factory=OmniglotTaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def first_order(self) -> bool:
        return self.algo == "fomaml"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        sin = SinusoidTaskConfig(**_tuples(d.pop("sinusoid", {})))
        omn = OmniglotTaskConfig(**_tuples(d.pop("omniglot", {})))
        mod = ModelConfig(**_tuples(d.pop("model", {})))
        return cls(**d, sinusoid=sin, omniglot=omn, model=mod)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def _tuples(d: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def default_config(problem: Problem = "sinusoid", algo: Algorithm = "maml", **overrides: Any) -> TrainConfig:
    """The paper's settings for a problem and algorithm; `overrides` replace any top-level field,
    and `n_way`, `k_shot`, `n_query`, `data_dir`, `split` reach the task config."""
    task_keys = {"n_way", "k_shot", "n_query", "data_dir", "split", "rotations", "split_seed", "augment"}
    task_over = {k: overrides.pop(k) for k in list(overrides) if k in task_keys}
    model_over = {k: overrides.pop(k) for k in list(overrides) if k in ("norm", "head")}
    if problem == "sinusoid":
        sin_over = {k: v for k, v in task_over.items() if k in ("k_shot", "n_query")}
        base = dict(
            problem="sinusoid", algo=algo, iterations=70_000, meta_batch=25, inner_steps=1,
            inner_lr=0.01, meta_lr=0.001, eval_steps=10,
            sinusoid=SinusoidTaskConfig(**sin_over),
            model=ModelConfig(kind="mlp", hidden=(40, 40), n_out=1),
        )
        if algo == "reptile":  # k = 5 SGD steps of 0.02 per task, as the Reptile authors' sinusoid demo
            base.update(inner_steps=5, inner_lr=0.02)
    elif problem == "omniglot":
        n_way = task_over.get("n_way", 5)
        twenty = n_way >= 20
        base = dict(
            problem="omniglot", algo=algo, iterations=60_000,
            meta_batch=16 if twenty else 32,  # paper
            inner_steps=5 if twenty else 1,  # paper
            inner_lr=0.1 if twenty else 0.4,  # paper
            meta_lr=0.001, eval_steps=5 if twenty else 3,
            omniglot=OmniglotTaskConfig(**task_over),
            model=ModelConfig(kind="conv", channels=64, n_out=n_way, **model_over),
        )
    else:
        raise ConfigError(f"unknown problem {problem!r}: choose 'sinusoid' or 'omniglot'")
    base.update(overrides)
    return TrainConfig(**base)


def validate(c: TrainConfig) -> None:
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise ConfigError(msg)

    need(c.problem in ALGORITHMS, f"problem must be 'sinusoid' or 'omniglot', got {c.problem!r}")
    need(c.algo in ALGORITHMS[c.problem],
         f"algo {c.algo!r} is not available for {c.problem}: choose one of {', '.join(ALGORITHMS[c.problem])}")
    need(c.iterations >= 1, f"iterations must be at least 1, got {c.iterations}")
    need(c.meta_batch >= 1, f"meta-batch must be at least 1, got {c.meta_batch}")
    need(0 <= c.inner_steps <= 100, f"inner steps must be between 0 and 100, got {c.inner_steps}")
    need(0 <= c.eval_steps <= 100, f"eval steps must be between 0 and 100, got {c.eval_steps}")
    need(c.inner_lr >= 0 and c.inner_lr == c.inner_lr, f"inner learning rate must be >= 0, got {c.inner_lr}")
    need(c.meta_lr > 0, f"meta learning rate must be > 0, got {c.meta_lr}")
    need(0 < c.outer_step <= 1 and c.outer_step == c.outer_step,
         f"Reptile's outer step must be in (0, 1], got {c.outer_step}")
    need(c.algo != "reptile" or c.inner_steps >= 1,
         "Reptile needs at least one inner step: set --inner-steps 1 or more")
    if c.problem == "sinusoid":
        need(c.sinusoid.k_shot >= 1, f"shots must be at least 1, got {c.sinusoid.k_shot}")
        need(c.sinusoid.n_query >= 1, f"queries must be at least 1, got {c.sinusoid.n_query}")
    else:
        o = c.omniglot
        need(o.n_way >= 2, f"ways must be at least 2, got {o.n_way}")
        need(o.k_shot >= 1, f"shots must be at least 1, got {o.k_shot}")
        need(o.n_query >= 1, f"queries must be at least 1, got {o.n_query}")
        need(o.k_shot + o.n_query <= 20,
             f"shots + queries must be at most 20 (Omniglot has 20 drawings per character), got {o.k_shot + o.n_query}")
        need(o.split in ("character", "alphabet"), f"split must be 'character' or 'alphabet', got {o.split!r}")
        need(c.model.n_out == o.n_way, f"model outputs ({c.model.n_out}) must equal ways ({o.n_way})")
        need(c.model.norm in NORMS, f"normalisation must be one of {', '.join(NORMS)}, got {c.model.norm!r}")
        need(c.model.head in HEADS, f"head must be one of {', '.join(HEADS)}, got {c.model.head!r}")
    need(c.meta_lr_schedule in ("constant", "cosine"),
         f"meta learning rate schedule must be 'constant' or 'cosine', got {c.meta_lr_schedule!r}")
    need(c.first_order_iterations >= 0, f"first-order iterations must be >= 0, got {c.first_order_iterations}")
    need(not c.learn_inner_lr or c.algo in ("maml", "fomaml"),
         f"learned inner learning rates are for maml and fomaml, not {c.algo!r}: drop --learn-inner-lr")
    need(c.multi_step_loss_iterations >= 0,
         f"multi-step loss iterations must be >= 0, got {c.multi_step_loss_iterations}")
