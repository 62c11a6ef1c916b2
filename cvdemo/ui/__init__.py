"""Streamlit helpers shared by the pages. The only part of cvdemo that imports streamlit."""
