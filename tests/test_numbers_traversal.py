"""Issue 12, item 4: the aggregate posterior says how many points its mixture q(z) keeps."""
import torch

from vae.analysis.traversal import aggregate_log_density, aggregate_posterior


def test_aggregate_posterior_reports_the_points_it_uses():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5000, 3, generator=g), torch.full((5000, 3), -1.0)
    agg = aggregate_posterior(mu, logvar, n_reference=50)
    assert (agg.n_components, agg.n_data, agg.subsampled) == (4000, 5000, True)  # at most 4,000 are kept
    assert agg.mu.shape == (4000, 3)
    small = aggregate_posterior(mu[:300], logvar[:300], n_reference=50)
    assert (small.n_components, small.n_data, small.subsampled) == (300, 300, False)
    # The density is the mixture over exactly the points it reports.
    z = torch.randn(7, 3, generator=g)
    torch.testing.assert_close(small.log_density(z), aggregate_log_density(z, mu[:300], logvar[:300]))
