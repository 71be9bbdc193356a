"""MAML, visible: the Streamlit entry point. Routes with st.navigation over app_pages/*.py (listed in
ui/common.PAGES; why not pages/: see ui.common.run_app) and holds, in ui/common.py, what the pages
share: sidebar settings, method colours, cached weights.

`streamlit run app.py` reads this file twice, in two roles:
- Streamlit runs it as each session's page script (`__name__ == "__main__"`): `run_app()`.
- Before that, the command finds `app` below, an `st.App` (Streamlit's ASGI application, 1.67), and serves it.
  Its lifespan hook runs once, before the server answers its first request (its health check included): it
  imports torch and the app's modules and makes the process's first `torch.func.grad` call (ui.warm), about 3 s
  on this machine that the first visitor's page would otherwise pay (benchmarks/bench_browser.py measures both).
"""

import streamlit as st

if __name__ == "__main__":
    from ui.common import run_app

    run_app()
else:
    import asyncio
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def _warm_at_start(_app):
        from ui.warm import warm_up

        await asyncio.to_thread(warm_up)
        yield

    app = st.App("app.py", lifespan=_warm_at_start)
