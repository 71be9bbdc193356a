"""Finished Meta-training runs kept on this server per browser, so that a page reload keeps them (no Streamlit here).

Streamlit's session state ends with the page: a reload is a new session. The browser keeps a random id of its own
(ui/browser.py: a cookie, never in a link) and this module keeps, per id, the runs it trained or uploaded: a bounded
least-recently-used store (`RunStore`), in this server process's memory only. A restart starts it empty, with a new
`SERVER_ID`, which is how a page tells "the server restarted" from "this browser never trained here".
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import OrderedDict
from typing import Any

SERVER_ID = secrets.token_hex(6)  # this server process; a restart gets another
BROWSER_ID = re.compile(r"^[0-9a-f]{32}$")  # what ui/browser.py's script makes: 128 random bits in hex
MAX_BROWSERS = 200  # a lecture hall, and then some
MAX_BYTES = 100_000_000  # a sinusoid run is ~20 KB and a small Omniglot run ~0.5 MB (their checkpoint files)


def valid_id(value: Any) -> bool:
    return isinstance(value, str) and bool(BROWSER_ID.match(value))


class RunStore:
    """browser id -> problem -> algo -> run entry ({"checkpoint", "label", "file", "filename", "along"}): the least
    recently used browsers are dropped beyond `max_browsers` or `max_bytes` (counted as the entries' checkpoint files
    and the weights kept along their training)."""

    def __init__(self, max_browsers: int = MAX_BROWSERS, max_bytes: int = MAX_BYTES) -> None:
        self.max_browsers, self.max_bytes = max_browsers, max_bytes
        self._runs: OrderedDict[str, dict[str, dict[str, dict[str, Any]]]] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, browser: str | None, problem: str, algo: str, entry: dict[str, Any]) -> bool:
        """Keep `entry` for `browser` (the latest run of an algorithm replaces the previous). False when there is
        no usable browser id (nothing kept)."""
        if not valid_id(browser):
            return False
        with self._lock:
            self._runs.setdefault(browser, {}).setdefault(problem, {})[algo] = entry
            self._runs.move_to_end(browser)
            while len(self._runs) > self.max_browsers or (len(self._runs) > 1 and self._bytes() > self.max_bytes):
                self._runs.popitem(last=False)
            return browser in self._runs

    def restore(self, browser: str | None) -> dict[str, dict[str, dict[str, Any]]]:
        """A copy of `browser`'s runs (problem -> algo -> entry; the entries themselves are shared, read-only)."""
        if not valid_id(browser):
            return {}
        with self._lock:
            runs = self._runs.get(browser)
            if runs is None:
                return {}
            self._runs.move_to_end(browser)
            return {problem: dict(algos) for problem, algos in runs.items()}

    def has(self, browser: str | None) -> bool:
        with self._lock:
            return valid_id(browser) and any(self._runs.get(browser, {}).values())

    def _bytes(self) -> int:
        return sum(len(e.get("file") or b"") + sum(map(len, (e.get("along") or {}).values()))
                   for runs in self._runs.values() for algos in runs.values() for e in algos.values())


STORE = RunStore()
