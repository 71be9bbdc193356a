"""Bring a keyed element of the page into view once: a tiny Streamlit component (components v2, inline JavaScript)
that draws nothing. After "Adapt" the Omniglot page's results start far below a laptop's screen (about 1,340 px
down at 1400 x 1000), where a press seemed to do nothing."""

from __future__ import annotations

from typing import Any

import streamlit as st

_JS = r"""
export default function(component) {
  const { data } = component;
  const done = (window.__mamlScrolled = window.__mamlScrolled || {});
  if (!data || done[data.target] === data.token) return;  // each token once, however often the page reruns
  done[data.target] = data.token;
  let tries = 0;
  const go = () => {  // the target may be drawn a moment after this script runs
    const el = document.querySelector('.st-key-' + data.target);
    if (el) { el.style.scrollMarginTop = '4.5rem'; el.scrollIntoView({ block: 'start' }); }  // below the app's header
    else if (++tries < 40) setTimeout(go, 50);
  };
  setTimeout(go, 50);
}
"""

_REGISTERED: list[Any] = []  # registered once per server process


def scroll_into_view(target_key: str, token: int | str, *, key: str) -> None:
    """Scroll the element drawn with Streamlit key `target_key` (e.g. `st.container(key=...)`) to the top of the
    window, once per `token` in this browser tab. Zero height; a failure only means no scroll."""
    try:
        if not _REGISTERED:
            _REGISTERED.append(st.components.v2.component("maml.scroll_into_view", js=_JS, html="<span></span>"))
        _REGISTERED[0](key=key, data={"target": target_key, "token": str(token)}, height=0)
    except Exception:  # the results are on the page either way
        return
