"""MAML, visible: the Streamlit entry point. Routes over pages/ and holds what they share."""

import streamlit as st

st.set_page_config(page_title="MAML, visible", page_icon="🧠", layout="wide")

pages = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/sinusoid.py", title="Sinusoid regression", icon="〰️"),
    st.Page("pages/omniglot.py", title="Omniglot few-shot", icon="✍️"),
    st.Page("pages/meta_training.py", title="Meta-training, live", icon="⏱️"),
]
st.navigation(pages).run()
