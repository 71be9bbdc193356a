"""A small async client for a running `streamlit run app.py`: a browser session without the browser.

It speaks Streamlit 1.67's own websocket protocol on ws://HOST:PORT/_stcore/stream (the route in
streamlit/web/server/starlette/starlette_websocket.py), so the server cannot tell it from a browser tab:

- Handshake: a websocket with subprotocol "streamlit" (the header's 2nd/3rd entries, an XSRF token and a
  session id to resume, are left out: no auth cookie, a new session). The server then creates an AppSession
  and waits; like the browser, the client asks for the first run itself.
- Client -> server: `BackMsg.rerun_script`, a `ClientState` with the query string, the page (`page_name` =
  the page's url path, e.g. "sinusoid", on the first run; afterwards the `page_script_hash` the server
  reported in its `navigation` message, as the browser does) and `WidgetStates`. Only the widgets that
  change are sent: the server merges them into the session's widget state and runs on_change / on_click
  callbacks for what changed (SessionState.on_script_will_rerun); Streamlit's own agent API
  (streamlit/runtime/agent/widget_writes.py) sends reruns the same way.
- Widget ids: "$$ID-<hash>-<user key>" (streamlit/elements/lib/utils.py `_compute_element_id`), so a widget
  is found by the key the app gave it. Wire types (each widget's `register_widget(value_type=...)`):
  button -> trigger_value, slider -> double_array_value, number_input -> int_value / double_value (as the
  browser: by the proto's data_type), checkbox and toggle -> bool_value, radio / selectbox -> string_value,
  multiselect -> string_array_value.
- Server -> client: `ForwardMsg`s. `new_session` starts a run; `delta`s (new_element / add_block /
  new_transient at `metadata.delta_path`) build the page; `script_finished` ends a run.
  FINISHED_EARLY_FOR_RERUN means another run follows (an `st.rerun()` or a rerun request), so one user
  action is done ("idle") at FINISHED_SUCCESSFULLY / FINISHED_WITH_COMPILE_ERROR /
  FINISHED_FRAGMENT_RUN_SUCCESSFULLY. `page_info_changed` carries the new query string (st.query_params),
  which the next rerun sends back, like the browser's address bar. Like Streamlit's agent client
  (streamlit/runtime/agent/interaction.py) no cached message hashes are advertised, so every message
  arrives with its payload.

The page a session shows is the element tree of its last completed run: a full run replaces it (elements it
did not re-send are gone, as in the browser); a fragment run (st.fragment) writes into it in place.

Usage:
    s = Session(8501, page="sinusoid")
    first = await s.connect()                      # RunResult of the first run
    r = await s.run({"inner_steps": 5})            # set a slider and wait for the page
    r = await s.run({"sin_next": CLICK})           # press a button
    "step 0 → step 6" in s.text()
    await s.close()
"""

from __future__ import annotations

import asyncio
import io
import time
from dataclasses import dataclass, field
from typing import Any

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect as ws_connect

CLICK = object()  # the value for a button (any truthy value works too)
DONE = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
        ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)
TEXT_KINDS = ("heading", "markdown", "text", "alert", "toast", "metric", "code")
WIDGET_KINDS = ("button", "download_button", "slider", "number_input", "checkbox", "radio", "selectbox",
                "multiselect", "text_input", "text_area", "file_uploader", "plotly_chart",
                "dataframe", "button_group", "color_picker", "date_input", "time_input", "camera_input")


class StreamlitError(RuntimeError):
    """The server ended the connection, or a run did not finish in time."""


@dataclass
class RunResult:
    """One user action: from sending the rerun to the session being idle again."""

    seconds: float  # send -> the last script_finished of the action (the page is complete)
    first_delta_s: float | None  # send -> the first delta (something on screen changes); None if no delta came
    runs: int  # script runs the action took (> 1: the app's own st.rerun()s, or a callback's)
    status: str  # the last script_finished status
    messages: int = 0  # ForwardMsgs received for the action
    bytes: int = 0  # their size on the wire (before any websocket compression)
    exceptions: list[str] = field(default_factory=list)  # st.exception / uncaught errors shown on the page


class Session:
    """One browser tab on one page of the app (see the module docstring for the protocol pieces)."""

    def __init__(self, port: int, page: str = "sinusoid", query: str = "", host: str = "127.0.0.1",
                 timeout: float = 120.0) -> None:
        self.url = f"ws://{host}:{port}/_stcore/stream"
        self.page, self.query, self.timeout = page, query, timeout
        self.page_script_hash = ""  # known after the first run (the navigation message)
        self.session_id = ""
        self.elements: dict[tuple[int, ...], Element] = {}  # the page: delta_path -> element, last finished run
        self.transients: list[Element] = []  # toasts etc. of the last run (Delta.new_transient)
        self.history: list[RunResult] = []
        self._building: dict[tuple[int, ...], Element] = {}
        self._building_transients: list[Element] = []
        self._ws: Any = None
        self._reader: asyncio.Task | None = None
        self._done = asyncio.Event()
        self._waiting = False  # an action is in flight (set by run(), cleared by the reader)
        self._started = False  # a new_session arrived since the send
        self._t_send = 0.0
        self._t_first_delta: float | None = None
        self._t_done = 0.0
        self._runs = self._messages = self._bytes = 0
        self._status = ""
        self._closed_reason: str | None = None

    # --- connection --------------------------------------------------------------------------------------------

    async def connect(self) -> RunResult:
        """Open the websocket and run the page once (what a browser does when it loads the page's URL). The
        result's `seconds` counts from before the websocket handshake to the first page being complete."""
        t0 = time.perf_counter()
        self._ws = await ws_connect(self.url, subprotocols=["streamlit"], max_size=None, proxy=None,
                                    open_timeout=self.timeout, ping_interval=None)
        self._reader = asyncio.create_task(self._read(), name=f"st-reader-{id(self)}")
        result = await self.run(_t0=t0)
        return result

    async def close(self) -> None:
        """Close the websocket (the server keeps the session for a reconnect for a while, as for a closed tab)."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass
        self._ws = self._reader = None

    async def __aenter__(self) -> Session:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- actions -----------------------------------------------------------------------------------------------

    async def run(self, widgets: dict[str, Any] | None = None, *, _t0: float | None = None) -> RunResult:
        """Send a rerun with these widget changes ({user key or widget id: value}; CLICK for a button) and wait
        until the session is idle (the app's own st.rerun()s included). Raises StreamlitError on a timeout."""
        if self._ws is None:
            raise StreamlitError("not connected: call connect() first")
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        if self.page_script_hash:
            cs.page_script_hash = self.page_script_hash
        else:
            cs.page_name = self.page
        for key, value in (widgets or {}).items():
            cs.widget_states.widgets.append(self._encode(key, value))
        self._done.clear()
        self._started, self._waiting = False, True
        self._t_first_delta, self._runs, self._status = None, 0, ""
        self._messages = self._bytes = 0
        self._t_send = time.perf_counter() if _t0 is None else _t0
        await self._ws.send(msg.SerializeToString())
        try:
            await asyncio.wait_for(self._done.wait(), self.timeout)
        except TimeoutError:
            self._waiting = False
            raise StreamlitError(f"no finished run within {self.timeout:.0f} s ({self._runs} runs started; "
                                 f"{self._closed_reason or 'connection open'})") from None
        if self._closed_reason and not self._status:
            raise StreamlitError(self._closed_reason)
        result = RunResult(self._t_done - self._t_send,
                           None if self._t_first_delta is None else self._t_first_delta - self._t_send,
                           self._runs, self._status, self._messages, self._bytes, self.exceptions())
        self.history.append(result)
        return result

    def _encode(self, key: str, value: Any) -> WidgetState:
        el = self.element(key)
        kind = el.WhichOneof("type")
        proto = getattr(el, kind)
        state = WidgetState(id=proto.id)
        if kind in ("button", "download_button"):
            state.trigger_value = bool(value)
        elif kind == "slider":
            state.double_array_value.data.extend(value if isinstance(value, (list, tuple)) else [value])
        elif kind == "number_input":
            if proto.data_type == NumberInput.INT:
                state.int_value = int(value)
            else:
                state.double_value = float(value)
        elif kind == "checkbox":  # st.checkbox and st.toggle
            state.bool_value = bool(value)
        elif isinstance(value, str):  # radio, selectbox, text_input, ...: the option as the widget shows it
            state.string_value = value
        elif isinstance(value, (list, tuple)):  # multiselect
            state.string_array_value.data.extend(map(str, value))
        else:
            raise ValueError(f"don't know how to set a {kind} ({key!r}) to {value!r}")
        return state

    # --- the server's messages -----------------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                self._on_message(raw)
        except Exception as e:  # connection closed or broken: wake a waiting run()
            self._closed_reason = f"connection closed: {e!r}"
        else:
            self._closed_reason = "connection closed by the server"
        self._done.set()

    def _on_message(self, raw: bytes) -> None:
        now = time.perf_counter()
        if self._waiting:
            self._messages += 1
            self._bytes += len(raw)
        msg = ForwardMsg()
        msg.ParseFromString(raw)
        kind = msg.WhichOneof("type")
        if kind == "delta":
            if self._waiting and self._t_first_delta is None:
                self._t_first_delta = now
            delta, path = msg.delta, tuple(msg.metadata.delta_path)
            dkind = delta.WhichOneof("type")
            if dkind == "new_element":
                self._building[path] = delta.new_element
            elif dkind == "add_block":  # a container rebuilt here: what was inside it is gone
                for p in [p for p in self._building if p[:len(path)] == path]:
                    del self._building[p]
            elif dkind == "new_transient":
                self._building_transients.extend(delta.new_transient.elements)
        elif kind == "new_session":
            self._started = True
            self._runs += 1
            if msg.new_session.initialize.session_id:
                self.session_id = msg.new_session.initialize.session_id
            if not msg.metadata.run.fragment_ids:  # a full run draws the page afresh
                self._building, self._building_transients = {}, []
        elif kind == "navigation":
            self.page_script_hash = msg.navigation.page_script_hash
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "script_finished":
            self._status = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
            if msg.script_finished in DONE and self._started:
                self.elements = dict(sorted(self._building.items()))
                self.transients = list(self._building_transients)
                if self._waiting:
                    self._t_done, self._waiting = now, False
                    self._done.set()

    # --- reading the page ------------------------------------------------------------------------------------

    def widget_ids(self) -> dict[str, str]:
        """user key -> widget id, for every widget on the page that has a key."""
        out = {}
        for el in self.elements.values():
            kind = el.WhichOneof("type")
            wid = getattr(getattr(el, kind), "id", "") if kind in WIDGET_KINDS else ""
            if wid.startswith("$$ID-"):
                user_key = wid.split("-", 2)[-1]
                if user_key != "None":
                    out[user_key] = wid
        return out

    def element(self, key: str) -> Element:
        """The widget with this user key (or widget id) on the current page; KeyError if it is not there."""
        for el in self.elements.values():
            kind = el.WhichOneof("type")
            wid = getattr(getattr(el, kind), "id", "") if kind in WIDGET_KINDS else ""
            if wid and (wid == key or wid.split("-", 2)[-1] == key):
                return el
        raise KeyError(f"no widget with key {key!r} on the page (keys: {sorted(self.widget_ids())})")

    def texts(self, kinds: tuple[str, ...] = TEXT_KINDS) -> list[str]:
        """Texts of the page in order: headings, markdown (st.markdown, st.caption, st.write), st.text, alerts,
        metrics ("label: value delta"), code, and the last run's toasts."""
        out = []
        for el in [*self.elements.values(), *self.transients]:
            kind = el.WhichOneof("type")
            if kind not in kinds:
                continue
            p = getattr(el, kind)
            if kind == "metric":
                out.append(f"{p.label}: {p.body} {p.delta}".strip())
            elif kind == "code":
                out.append(p.code_text)
            else:
                out.append(p.body)
        return out

    def text(self) -> str:
        return "\n".join(self.texts())

    def counts(self) -> dict[str, int]:
        """How many elements of each kind the page shows."""
        out: dict[str, int] = {}
        for el in self.elements.values():
            k = el.WhichOneof("type")
            out[k] = out.get(k, 0) + 1
        return out

    def tables(self) -> list[Any]:
        """The st.dataframe / st.data_editor / st.table elements as pandas DataFrames (Arrow IPC payloads)."""
        import pyarrow as pa

        out = []
        for el in self.elements.values():
            kind = el.WhichOneof("type")
            if kind in ("dataframe", "table") and getattr(el, kind).arrow_data.data:
                with pa.ipc.open_stream(io.BytesIO(getattr(el, kind).arrow_data.data)) as reader:
                    out.append(reader.read_pandas())
        return out

    def exceptions(self) -> list[str]:
        out = []
        for el in self.elements.values():
            if el.WhichOneof("type") == "exception":
                out.append(f"{el.exception.type}: {el.exception.message}")
        return out
