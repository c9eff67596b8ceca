"""Results kept in a run folder, keyed by the weights' digest: the precompute, projections, gap
estimates, rate–distortion points and disentanglement scores. Each may be rebuilt at any time."""
