"""maml_core: functional MAML and first-order MAML (Finn, Abbeel & Levine, ICML 2017) with torch.func.

Five-minute tour:
    ckpt = load_checkpoint("assets/sinusoid_maml.pt")           # model, params (theta), config, metrics
    states = adapt(ckpt.model, ckpt.params, x, y, steps=10, inner_lr=ckpt.inner_lr)   # steps + 1 states
    y_hat = predict(ckpt.model, states[-1], x_query)               # Omniglot: also support_x=x
    result = meta_train(default_config("sinusoid", "fomaml", iterations=1000), on_step=print)
    x = preprocess_image(PIL.Image.open("drawing.png"))          # (1, 28, 28), ink = 1
"""

from .algorithm import (
    LEARNED,
    SupportSetError,
    adapt,
    adapt_and_measure,
    adapt_curves,
    adapt_starts,
    describe_lr,
    head_names,
    meta_loss_and_grad,
    meta_loss_loop,
    network_params,
    predict,
)
from .checkpoints import Checkpoint, CheckpointError, Headline, Metrics, load_checkpoint, save_checkpoint
from .config import (
    ConfigError,
    ModelConfig,
    OmniglotTaskConfig,
    SinusoidTaskConfig,
    TrainConfig,
    default_config,
)
from .evaluation import (
    DIVERGED_LOSS,
    Curves,
    adaptation_curves,
    choose_test_settings,
    diverged_at,
    task_curves,
    task_sampler,
)
from .models import OmniglotConvNet, SinusoidMLP, build_model, count_params, get_params
from .omniglot import DataError, OmniglotData, OmniglotTasks, download, load_omniglot, split
from .preprocess import ImageError, has_ink, preprocess_image
from .tasks import Episode, SinusoidTasks, make_sinusoid_episode, mean_ci95, sinusoid
from .training import StepInfo, Trainer, TrainResult, meta_train

__all__ = [
    "adapt", "adapt_and_measure", "adapt_starts", "SupportSetError", "predict", "meta_train", "load_checkpoint",
    "save_checkpoint",
    "preprocess_image", "Metrics", "Headline",
    "adapt_curves", "meta_loss_and_grad", "meta_loss_loop", "Checkpoint", "CheckpointError",
    "ConfigError", "ModelConfig", "OmniglotTaskConfig", "SinusoidTaskConfig", "TrainConfig", "default_config",
    "Curves", "adaptation_curves", "task_curves", "DIVERGED_LOSS", "diverged_at",
    "choose_test_settings", "task_sampler", "OmniglotConvNet",
    "SinusoidMLP",
    "build_model", "count_params", "get_params", "DataError", "OmniglotData", "OmniglotTasks", "download",
    "load_omniglot", "split", "ImageError", "has_ink", "Episode", "SinusoidTasks", "make_sinusoid_episode",
    "mean_ci95", "sinusoid", "StepInfo", "Trainer", "TrainResult", "LEARNED", "network_params", "describe_lr",
    "head_names",
]
