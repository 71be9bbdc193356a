"""View helpers shared by the Streamlit pages (no algorithm code: that lives in maml_core)."""
