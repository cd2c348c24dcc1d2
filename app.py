"""工业投资项目库分析 — the Streamlit router. Pages live in app_pages/ (one thin file each)."""

import streamlit as st

from app_pages import ui

st.set_page_config(page_title="工业投资项目库分析", page_icon="🏭", layout="wide")
try:
    user = ui.start()
    page = st.navigation(ui.pages(user))
    ui.banners(user)
    page.run()
finally:
    ui.finish()  # the run's read connection: nothing stays open between runs
