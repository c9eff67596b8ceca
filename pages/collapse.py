"""Placeholder: this page is being built."""
import streamlit as st

st.title("collapse")
st.info("This page is under construction.")
