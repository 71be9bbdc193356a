"""Warming a server process up before its first visitor, kept free of torch and Streamlit imports so that app.py's
start-up hook can call it before anything heavy is loaded.

What a process pays once, measured on this machine (2 cores): importing torch and the engine, about 1.2 s; the app's
views and Plotly, about 0.6 s; the process's first `torch.func.grad`, about 1.3 s, because it imports torch._dynamo
(`torch._functorch.eager_transforms._autograd_grad` enters `torch._dynamo.compiled_autograd._disable()`). Without a
warm-up the first visitor of a freshly started server waited for all of it on top of the page itself."""

import threading

_LOCK = threading.Lock()
_DONE = threading.Event()


def warm_up() -> None:
    """Import what every page needs, give torch the server's thread count (`ui.common.use_server_threads`) and make
    the process's first `torch.func.grad` call; once per process (later calls return at once, a concurrent one waits
    for the first). Never raises: the pages import and compute the same things when they need them. Called by
    app.py's start-up hook before the server takes requests, never beside a running page: importing these modules
    in two threads at once can hand one of them a partially initialised module (seen with pandas when this ran in
    the background after the first page)."""
    with _LOCK:
        if _DONE.is_set():
            return
        try:
            import plotly.graph_objects  # noqa: F401
            import torch
            from torch.func import grad

            import maml_core.checkpoints  # noqa: F401  (the package itself imports its modules on first use)
            import maml_core.preprocess  # noqa: F401
            import maml_core.training  # noqa: F401
            import ui.figures  # noqa: F401
            import ui.sinusoid_view  # noqa: F401
            import ui.training_view  # noqa: F401
            from ui.common import use_server_threads

            use_server_threads()  # before the first grad, as every request runs
            grad(lambda w: (w * w).sum())(torch.ones(2))
        except Exception:
            pass
        _DONE.set()

