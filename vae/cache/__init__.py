"""Results kept in a run folder, keyed by the weights' digest: ``store`` (the one protocol: names,
atomic writes for the weights a result came from, capped reads) and, on top of it, the precompute,
projections, gap estimates, rate–distortion points and disentanglement scores. Each may be rebuilt
at any time."""
