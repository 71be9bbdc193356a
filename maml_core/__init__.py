"""maml_core: functional MAML and first-order MAML (Finn, Abbeel & Levine, ICML 2017) with torch.func.

Five-minute tour:
    ckpt = load_checkpoint("assets/sinusoid_maml.pt")           # model, params (theta), config, metrics
    states = adapt(ckpt.model, ckpt.params, x, y, steps=10, inner_lr=ckpt.inner_lr)   # steps + 1 states
    y_hat = predict(ckpt.model, states[-1], x_query)               # Omniglot: also support_x=x
    result = meta_train(default_config("sinusoid", "fomaml", iterations=1000), on_step=print)
    x = preprocess_image(PIL.Image.open("drawing.png"))          # (1, 28, 28), ink = 1
"""

from importlib import import_module

# Each public name and the module that defines it, imported on first use (PEP 562): `python -m maml_core --help`
# and a wrong flag do not wait for torch.
_PUBLIC = {
    "algorithm": ("LEARNED", "SupportSetError", "adapt", "adapt_and_measure", "adapt_curves", "adapt_starts",
                  "describe_lr", "head_names", "meta_loss_and_grad", "meta_loss_loop", "network_params", "predict"),
    "checkpoints": ("Checkpoint", "CheckpointError", "Headline", "Metrics", "load_checkpoint", "save_checkpoint"),
    "config": ("ConfigError", "ModelConfig", "OmniglotTaskConfig", "SinusoidTaskConfig", "TrainConfig",
               "default_config"),
    "evaluation": ("DIVERGED_LOSS", "Curves", "adaptation_curves", "choose_test_settings", "diverged_at",
                   "task_curves", "task_sampler"),
    "models": ("OmniglotConvNet", "SinusoidMLP", "build_model", "count_params", "get_params"),
    "omniglot": ("DataError", "OmniglotData", "OmniglotTasks", "download", "load_omniglot", "split"),
    "preprocess": ("ImageError", "has_ink", "preprocess_image"),
    "tasks": ("Episode", "SinusoidTasks", "make_sinusoid_episode", "mean_ci95", "sinusoid"),
    "training": ("StepInfo", "Trainer", "TrainResult", "meta_train"),
}
_MODULE_OF = {name: module for module, names in _PUBLIC.items() for name in names}
__all__ = list(_MODULE_OF)


def __getattr__(name: str) -> object:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_MODULE_OF[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
