"""The four per-dimension statistics of the Collapse page: each one's chart title, y-axis label,
collapse threshold (None where the report computes it: A_d's is the page's setting, the decoder's
is relative to its largest sensitivity) and plain words; and the orders the bars can be sorted by."""
from __future__ import annotations

from vae.analysis.collapse import KL_THRESHOLD, MI_THRESHOLD

STATS = {  # name -> (chart title, y-axis label, collapse threshold or None where computed per report, plain words)
    "kl": ("Mean KL per dimension", "E_x KL(q(z_d|x) ‖ N(0,1))  [nats]", KL_THRESHOLD,
           "How far each image's posterior on z_d moves from the prior N(0, 1), in nats: what the encoder pays to "
           "write into z_d. Zero means z_d is the prior for every image."),
    "activity": ("Active-unit statistic", "A_d = Var_x(E_q[z_d])", None,
                 "How much the posterior mean of z_d changes from one image to the next. Near zero, every image "
                 "gets the same z_d, so z_d cannot tell images apart."),
    "mi": ("Mutual information per dimension", "I_q(x; z_d)  [nats]", MI_THRESHOLD,
           "How much a draw of z_d tells you about which image it came from, in nats; zero means nothing. "
           "A Monte-Carlo estimate: error bars are ±2 standard errors."),
    "sensitivity": ("Decoder sensitivity", "mean |ΔE[x|z]| per pixel", None,
                    "How much the decoded image changes (mean per pixel, on a 0 to 1 scale) when z_d alone moves by "
                    "±δ. Near zero, the decoder ignores z_d."),
}
SORT_LABELS = {"kl": "KL", "activity": "A_d", "mi": "MI", "sensitivity": "sensitivity", "index": "dimension"}
