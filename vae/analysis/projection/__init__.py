"""Where the data lands in latent space: 2-D maps of posterior means and what is shown of each point.

- ``maps``: a map (``Projection``), the one list of projection ``METHODS``, cancellation and the
  trustworthiness of a map;
- ``methods``: the latents themselves, PCA, and ``project`` / ``place_points``, which dispatch on the method;
- ``tsne``: scikit-learn's t-SNE (the reference, within this server's t-SNE limit) and openTSNE (fast;
  fits a subset and places the rest);
- ``umap_learn``: UMAP (umap-learn, seeded);
- ``points``: a stratified seeded subsample, nearest neighbours, per-point ELBO terms, colourings,
  one point's detail, a selection's images and a probe's decode.

Everything takes and returns NumPy arrays (the pages cache them with ``st.cache_data``) except the
functions that run the model, which take tensors. Nothing touches a model's parameters or mode:
they are shared read-only. Kept maps of a run are ``vae.cache.projections``.
"""
