"""Placeholder: this page is being built."""
import streamlit as st

st.title("train")
st.info("This page is under construction.")
