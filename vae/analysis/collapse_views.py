"""What the Collapse page asks of the library beyond ``vae.analysis.collapse``: its budget check.

``check_diagnostics`` refuses, before anything is encoded, a report whose cost
(``vae.limits.collapse_work``: encoding the N test images with a model of P parameters, the
decoder-sensitivity pass over min(N_ANCHORS, N) anchors × D dimensions, and the O(M²) mixture
estimate over M points, repeated for its replicates) is past ``$VAE_MAX_COLLAPSE_WORK``.
"""
from __future__ import annotations

from vae.analysis.collapse import N_ANCHORS, mi_replicates, mixture_points
from vae.limits import check_collapse


def check_diagnostics(model, n_points: int, m: int) -> None:
    """Raise ``vae.limits.BudgetError`` (naming the limit) when the collapse report of ``model`` on
    ``n_points`` test images, with the mixture setting ``m``, is past the server's budget."""
    n_mix = mixture_points(n_points, m)
    check_collapse(sum(p.numel() for p in model.parameters()), n_points, model.latent_dim,
                   min(N_ANCHORS, n_points), n_mix, mi_replicates(n_mix))
