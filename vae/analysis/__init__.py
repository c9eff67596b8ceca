"""Analyses of a trained VAE: projections, traversals, collapse diagnostics,
disentanglement scores and gradient-estimator studies. Each is a plain function
of a model and tensors, with no UI in it."""
