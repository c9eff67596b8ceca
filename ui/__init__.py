"""Streamlit plumbing shared by the pages. It does no tensor math; ``vae`` never imports it."""
