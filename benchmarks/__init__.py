"""Benchmarks of the engine and the app, run from the repository root as `python -m benchmarks.bench_x`.

Shared pieces: `harness` (weights to serve, a server on a free port, chromium, settle, opening a page, drawing),
`processes` (memory and CPU of a process tree, through psutil) and `st_client` (a browser session over Streamlit's
websocket protocol, without a browser). Tests may import these; nothing here imports tests/.
"""
