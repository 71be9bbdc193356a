"""This browser's own random id, kept in a cookie (never in a link), so that a reload finds the runs this browser
trained (ui/run_store.py); and a second cookie naming the server process that holds them, so that after a server
restart the page can say plainly that they are gone.

A tiny components-v2 script draws nothing: it makes the id once (128 random bits from `crypto.getRandomValues`,
which works on plain http too, unlike `crypto.randomUUID`), writes the cookies the page asks for, and reports the id
when the server does not know it yet; and once Streamlit reconnects (a server restart) it asks for a run, so the
old page does not stay on screen. The server reads both cookies from `st.context.cookies` (sent when the page
connects, so a reload knows them on its first run).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from .run_store import SERVER_ID, valid_id

ID_COOKIE = "maml_browser"
RUNS_COOKIE = "maml_runs_on"  # the SERVER_ID of the server process that keeps this browser's runs
MAX_AGE_S = 7 * 24 * 3600

_JS = r"""
export default function(component) {
  const { data, setStateValue, setTriggerValue } = component;
  const read = (name) => {
    const m = document.cookie.match('(?:^|; )' + name + '=([^;]*)');
    return m ? decodeURIComponent(m[1]) : null;
  };
  const write = (name, value, maxAge) => {
    document.cookie = name + '=' + encodeURIComponent(value) + '; path=/; max-age=' + maxAge + '; SameSite=Strict';
  };
  let id = read(data.id_cookie);
  if (!id || !/^[0-9a-f]{32}$/.test(id)) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    id = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    write(data.id_cookie, id, data.max_age);
  }
  if (data.runs_on && read(data.runs_cookie) !== data.runs_on) write(data.runs_cookie, data.runs_on, data.max_age);
  if (data.forget_runs && read(data.runs_cookie) !== null) write(data.runs_cookie, '', 0);
  if (id !== data.known) setStateValue('id', id);
  // A reconnect (a server restart, a network blip) leaves the old page on screen until the next click; the page
  // asks for a run itself once Streamlit's new connection is open, so a restart is said at once, not "Finished".
  const watch = (window.__mamlSocketWatch = window.__mamlSocketWatch || { send: null });
  watch.send = setTriggerValue;
  if (!watch.installed) {
    watch.installed = true;
    const Native = window.WebSocket;
    const Watched = function (...args) {
      const ws = new Native(...args);
      if (String(args[0]).includes('_stcore/stream')) {
        ws.addEventListener('open', () => setTimeout(() => watch.send && watch.send('reconnected', Date.now()), 700));
      }
      return ws;
    };
    Watched.prototype = Native.prototype;
    for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Watched[k] = Native[k];
    window.WebSocket = Watched;
  }
}
"""

_REGISTERED: list[Any] = []


def _component():
    if not _REGISTERED:
        _REGISTERED.append(st.components.v2.component("maml.browser_id", js=_JS, html="<span></span>"))
    return _REGISTERED[0]


def _cookie(name: str) -> str | None:
    try:
        value = st.context.cookies.get(name)
    except Exception:  # no request behind this run: no cookies
        return None
    return value if isinstance(value, str) else None  # (AppTest's stand-in client answers with mock objects)


def browser_id() -> str | None:
    """This browser's id: from the cookie sent when the page connected, else as the script reported it in this
    session (a first visit); None before either (or where scripts or cookies are blocked)."""
    for value in (st.session_state.get("browser_id"), _cookie(ID_COOKIE)):
        if valid_id(value):
            return value
    return None


def runs_were_on() -> str | None:
    """The server process that kept this browser's runs when the page connected (None: none kept)."""
    value = _cookie(RUNS_COOKIE)
    return value or None


def sync(*, runs_here: bool, forget: bool = False) -> str | None:
    """Draw the (invisible) script: make the id if the browser has none, and record whether this server keeps
    runs for it (`runs_here`) or forget that (`forget`: they are gone). Returns `browser_id()`."""
    try:
        result = _component()(key="maml_browser_id", height=0, on_id_change=lambda: None,
                              on_reconnected_change=lambda: None,
                              data={"id_cookie": ID_COOKIE, "runs_cookie": RUNS_COOKIE, "max_age": MAX_AGE_S,
                                    "known": browser_id(), "runs_on": SERVER_ID if runs_here else "",
                                    "forget_runs": bool(forget and not runs_here)})
    except Exception:  # the page works without it: runs then last for this session only
        return browser_id()
    value = getattr(result, "id", None) if result is not None else None
    if valid_id(value):
        st.session_state["browser_id"] = value
    return browser_id()
