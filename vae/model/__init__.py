"""The model: networks, the Gaussian family, posteriors, priors, flows, objectives and the one split
evaluation. Depends only on ``vae.config``."""
