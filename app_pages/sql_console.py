"""Placeholder: the page is being written."""

import streamlit as st

from app_pages import ui

st.title(ui.t("sq.title"))
