"""The Gaussian formulas by their textbook names, computed by the library's posterior and prior
objects (vae.distributions): tests read as the formulas they check."""
from vae.model.distributions import DiagonalGaussian, StandardNormal


def kl_per_dim(mu, lv):
    return DiagonalGaussian(mu, lv).kl_per_dim()


def log_normal_diag(z, mu, lv):
    return DiagonalGaussian(mu, lv).log_prob(z)


def log_standard_normal(z):
    return StandardNormal(z.shape[-1]).log_prob(z)
