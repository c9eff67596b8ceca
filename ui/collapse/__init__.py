"""The Collapse page's Streamlit parts: ``stats`` (what each per-dimension statistic is called and
means), ``compute`` (the report's cached stages, each under a spinner naming it, read from the run's
precompute where it is kept), ``controls`` (the settings and the hand-off of a dimension to the
Traversals page), ``summary`` (the headline metrics and the ELBO / ELBO-surgery identities),
``per_dim`` (the per-dimension verdict charts and the table of every statistic) and ``sections``
(the Posteriors, Training history, Compare runs and MIG tabs)."""
