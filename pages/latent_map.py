"""Placeholder: this page is being built."""
import streamlit as st

st.title("latent_map")
st.info("This page is under construction.")
