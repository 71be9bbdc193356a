"""Lesson: a lecturer's deck of scenes (pages' addresses, in order, each with an optional "predict first" prompt),
built here or opened from a file, then presented with PageDown / PageUp. A view only: the deck and its checks are
ui/lesson_deck.py, the moves between scenes ui/lesson.py."""

from __future__ import annotations

import streamlit as st

from ui import browser, common, run_store
from ui import lesson as le
from ui import lesson_deck as ld

INTRO_DECK = "maml_in_5_scenes"  # the example offered first

ss = st.session_state
s = le.state()
le.follow(s, "lesson")  # a move made in the last click's callback: to the scene it reveals
decks, deck_problems = le.shipped_decks()
address_problem = le.restore_address(s, decks)
with st.sidebar:
    large = common.large_fonts_toggle()
common.apply_theme(large)
st.markdown("<style>.st-key-lesson_prompt p {font-size: 1.6rem; line-height: 1.35;}</style>",
            unsafe_allow_html=True)  # the question is read from the back of the room

st.title("Lesson")
if address_problem:
    st.warning(le.plain(address_problem), icon=":material/link_off:")

if s.presenting:
    step = s.step()
    scene = s.deck.scenes[step.scene]
    n = len(s.deck.scenes)
    st.caption(f"{le.plain(s.deck.title or 'Lesson')} · scene {step.scene + 1} of {n} · "
               f"on the {ld.PAGES[scene.page]} page")
    st.header(le.plain(scene.heading), anchor=False)
    if not step.reveal:
        with st.container(border=True, key="lesson_prompt"):
            st.markdown(":material/psychology_alt: **Predict first**")
            st.markdown(le.plain(scene.prompt))
        st.button("Reveal", icon=":material/visibility:", type="primary", key="lesson_reveal", shortcut="Enter",
                  on_click=le.move, args=(s, s.at + 1),
                  help=f"Open scene {step.scene + 1} on its page (key: Enter; PageDown too).")
    else:
        st.markdown(f"This scene is on the **{ld.PAGES[scene.page]}** page: `{scene.path}`")
        st.button("Open the scene", icon=":material/open_in_browser:", type="primary", key="lesson_open",
                  shortcut="Enter", on_click=le.move, args=(s, s.at), help="Open it on its page (key: Enter).")
    le.nav_buttons(s, "lesson")
    st.caption("Keys: PageDown goes on (a question, then its scene), PageUp goes back, Enter reveals. On every "
               "scene's page the lesson bar at the top of the sidebar takes PageDown and PageUp, and the step keys "
               "(← → space Home) step through the scene as always.")
    with st.expander(f"The lesson's {n} scenes"):
        st.markdown("\n".join(f"{i}. {'**' if i == step.scene + 1 else ''}{le.plain(sc.heading)}"
                              f"{'**' if i == step.scene + 1 else ''} ({ld.PAGES[sc.page]}"
                              f"{', with a question first' if sc.prompt else ''})"
                              for i, sc in enumerate(s.deck.scenes, 1)))
    st.button("End the lesson", icon=":material/stop_circle:", key="lesson_end", on_click=le.stop, args=(s,),
              help="Back to the deck, to edit or save it.")
else:
    st.markdown("A lesson is a deck of **scenes**, in order: each is a page's address (the Sinusoid, Inside MAML, "
                "Omniglot and Human vs MAML pages keep what they show in their address bar), with an optional "
                "**predict first** question that the audience answers before the scene is revealed. Open an example "
                "deck or a saved one, or build one from addresses; then save it as a small file to share, and "
                "present it with a presenter clicker or the keyboard (PageDown, PageUp).")
    if s.message:  # about the last open or add: shown once
        level, text = s.message
        getattr(st, level)(le.plain(text))  # (it may quote a file's text: shown as itself)
        s.message = None
    for problem in deck_problems:
        st.warning(le.plain(f"An example deck could not be read: {problem}"))
    col_go, col_about = st.columns([1, 4], vertical_alignment="center")
    col_go.button("Present", icon=":material/co_present:", type="primary", key="lesson_present",
                  shortcut="PageDown", on_click=le.move, args=(s, 0), disabled=not s.deck.scenes, width="stretch",
                  help="Start at scene 1 (key: PageDown).")
    asks = sum(bool(sc.prompt) for sc in s.deck.scenes)
    col_about.markdown(
        (f"**{le.plain(s.deck.title or 'Untitled deck')}**: {le.scenes(len(s.deck.scenes))}, {asks} with a question "
         "first. PageDown goes on (a question, then its scene), PageUp goes back, Enter reveals.")
        if s.deck.scenes else "The deck is empty: open one, or add scenes below.")

    st.subheader("1 · Open a deck")
    col_example, col_file = st.columns(2, gap="large")
    with col_example:
        if decks:
            ss.setdefault("lesson_example", next(d for d in (s.shipped, INTRO_DECK, *decks) if d in decks))
            st.selectbox("Example decks", list(decks), key="lesson_example",
                         format_func=lambda k: f"{decks[k].title or k} ({le.scenes(len(decks[k].scenes))})")
            st.button("Open this deck", icon=":material/folder_open:", key="lesson_open_example",
                      on_click=le.open_shipped, args=(s, decks),
                      help="Replaces the deck below with this example.")
        else:
            st.info("No example decks ship with this copy of the app (assets/lessons/ is empty).")
    with col_file:
        upload = st.file_uploader("Or open a deck file (.json, saved here)", key="lesson_upload", max_upload_size=1,
                                  help=f"A file saved with “Download the deck”: at most {ld.MAX_BYTES // 1024} KB "
                                       f"and {ld.MAX_SCENES} scenes. It replaces the deck below.")
        if upload is not None and upload.file_id != s.upload_id:
            le.open_upload(s, upload)
            st.rerun()

    st.subheader("2 · The scenes")
    if s.origin:
        st.caption(f"From {s.origin}" + ("" if s.shipped else " (edited since)" if s.origin.startswith("the example")
                                         else "") + ".")
    ss.setdefault("lesson_deck_title", s.deck.title)
    st.text_input("Deck title", key="lesson_deck_title", on_change=le.set_title, args=(s,),
                  max_chars=ld.MAX_TITLE, placeholder="e.g. MAML in 5 scenes")
    for n, (uid, scene) in enumerate(zip(s.uids, s.deck.scenes), 1):
        with st.container(border=True, key=f"lesson_scene_{uid}"):
            head = st.container(horizontal=True, vertical_alignment="center", gap="small")
            head.markdown(f"**Scene {n}** · {ld.PAGES[scene.page]}")
            head.space("stretch")
            head.button(":material/arrow_upward:", key=f"lesson_up_{uid}", disabled=n == 1,
                        on_click=le.move_scene, args=(s, uid, -1), help="Move this scene one earlier.")
            head.button(":material/arrow_downward:", key=f"lesson_down_{uid}",
                        disabled=n == len(s.uids), on_click=le.move_scene, args=(s, uid, 1),
                        help="Move this scene one later.")
            head.button(":material/delete:", key=f"lesson_remove_{uid}",
                        on_click=le.remove_scene, args=(s, uid), help="Take this scene out of the deck.")
            for key, value in ((f"lesson_title_{uid}", scene.title), (f"lesson_path_{uid}", scene.path),
                               (f"lesson_prompt_{uid}", scene.prompt)):
                ss.setdefault(key, value)
            left, right = st.columns([1, 1.4], gap="medium")
            left.text_input("Title", key=f"lesson_title_{uid}", on_change=le.edit_scene, args=(s, uid),
                            max_chars=ld.MAX_TITLE, placeholder=ld.PAGES[scene.page])
            right.text_input("Address", key=f"lesson_path_{uid}", on_change=le.edit_scene, args=(s, uid),
                             help="The page's address, as its address bar shows it (the part from the / on).")
            st.text_area("Predict first (optional)", key=f"lesson_prompt_{uid}", on_change=le.edit_scene,
                         args=(s, uid), max_chars=ld.MAX_PROMPT, height=68,
                         placeholder="A question the audience answers before the reveal; empty: the scene opens "
                                     "at once.")
            if uid in s.notes:
                st.error(le.plain(s.notes[uid]))
            if le.draws(scene):
                st.caption("Drawings are not saved in a deck (they stay in the browser that drew them): this scene "
                           "opens with blank canvases to draw on.")
    if not s.deck.scenes:
        st.info("The deck has no scenes yet: open an example above, or add a page's address below.")
    with st.form("lesson_add_form", clear_on_submit=True, border=False):
        col_path, col_button = st.columns([4, 1], vertical_alignment="bottom")
        col_path.text_input("Add a scene: paste a page's address", key="lesson_add",
                            placeholder="/sinusoid?A=2&phi=1&K=5",
                            help="Open the page, set it up, and copy its address bar: the address holds the "
                                 "scene (its task, points, settings and shown step).")
        col_button.form_submit_button("Add scene", icon=":material/add:", on_click=le.on_add, args=(s,),
                                      width="stretch")

    st.subheader("3 · Save it")
    st.download_button("Download the deck (.json)", ld.dump_deck(s.deck), file_name=le.file_name(s.deck),
                       mime="application/json", icon=":material/download:", key="lesson_download",
                       on_click="ignore", disabled=not s.deck.scenes)
    st.caption("A small file of addresses, titles and questions: open it here again, or share it. Drawings and "
               "trained runs are not in it.")
le.publish(s)
le.remember(s)  # for a reload of this browser's pages (its id: the invisible script below, ui/browser.py)
browser.sync(runs_here=run_store.STORE.has(browser.browser_id()))
