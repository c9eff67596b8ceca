"""The Inference gaps page's Streamlit parts: ``tasks`` (the gap estimate as a background task,
read from the run folder's cache when kept there) and ``figures`` (the gap bars, their spread over
points, the refinement curves, and the before/after view the Latent map's refinement reuses)."""
