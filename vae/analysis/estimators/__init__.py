"""Gradient estimators of the ELBO: reparameterization against the score function on the model
(``gradient``), the 1-D worked example (``toy``), Gumbel-softmax (``relaxed``) and implicit
reparameterization (``implicit``)."""
