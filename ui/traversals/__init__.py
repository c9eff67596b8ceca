"""The Traversals page's parts (``pages/traversals.py`` reads widgets, calls these, lays out):
``compute`` the page's cached computations (dimension ranking, q(z), PCA axes, the PNG/GIF
sheets; the tensor math is in ``vae.analysis.traversal_images``), ``state`` the sliders'
session state (start points, pending actions, hand-offs from other pages, a link's latent),
``controls`` the start-point inputs, buttons and sliders, ``modes`` the three tabs
(per-dimension strips, N×N grid, interpolation), ``density`` the on-manifold check and
``downloads`` the PNG and ONNX downloads."""
