"""MAML, visible: the Streamlit entry point. Routes with st.navigation over app_pages/*.py (listed in
ui/common.PAGES; why not pages/: see ui.common.run_app) and holds, in ui/common.py, what the pages
share: sidebar settings, method colours, cached weights."""

from ui.common import run_app

run_app()
