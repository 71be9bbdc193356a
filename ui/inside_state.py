"""The Inside MAML page's per-user state (one typed object under one session key, as ui/page_state.py's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .page_state import PageState

INSIDE_PREFIX = "ins_"  # every widget key of the page ("Reset this page" deletes them all)


@dataclass
class InsideState(PageState):
    """app_pages/inside.py, under `st.session_state["inside"]`. The start, the plane and the sections shown are
    widgets (`ins_origin`, `ins_plane`)."""

    KEY: ClassVar[str] = "inside"

    clicked: tuple[float, float] = (0.0, 0.0)  # the θ a click on the plane moved to, in plane coordinates
    plane_key: tuple = ()  # what the plane was built from: a new plane forgets the click
    last_click: float = 0.0  # the browser time stamp of the last click applied (each applies once)
    omni_plane: bool = False  # the Omniglot episode's landscape was asked for (it takes seconds)
    omni_episode: int = 0  # which test episode it shows
