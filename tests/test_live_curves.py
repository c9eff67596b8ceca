"""The Train page's live curves send each epoch once: only what the browser has not drawn yet."""
import math

from ui.components.live_curves import SERIES, delta, point


def _hist(n: int, start: int = 1) -> list[dict]:
    return [{"epoch": e, "train_elbo": -30.0 + e, "test_elbo": -31.0 + e, "test_rec": -29.0 + e, "test_kl": 1.0 + e,
             "kl_per_dim": [0.001 * e, 0.5 * e]} for e in range(start, start + n)]


def test_each_epoch_is_sent_once_and_nothing_between_epochs():
    h = _hist(3)
    data, sent = delta(h, "job-a", None, None)
    assert data["start"] == 0 and [p["epoch"] for p in data["points"]] == [1, 2, 3] and sent == {"job": "job-a", "n": 3}
    data, sent = delta(h, "job-a", sent, None)  # no new epoch: nothing to send
    assert data["start"] == 3 and data["points"] == []
    data, sent = delta(h + _hist(2, 4), "job-a", sent, None)
    assert data["start"] == 3 and [p["epoch"] for p in data["points"]] == [4, 5] and sent["n"] == 5


def test_a_new_job_starts_over_and_a_browser_that_lacks_points_gets_them_again():
    _, sent = delta(_hist(4), "job-a", None, None)
    data, sent = delta(_hist(1), "job-b", sent, None)
    assert data["job"] == "job-b" and data["start"] == 0 and len(data["points"]) == 1
    data, _ = delta(_hist(6), "job-b", {"job": "job-b", "n": 6}, need=2)  # the browser holds 2 of them
    assert data["start"] == 2 and [p["epoch"] for p in data["points"]] == [3, 4, 5, 6]
    data, _ = delta(_hist(2), "job-b", {"job": "job-b", "n": 2}, need=99)  # a count past the history
    assert data["start"] == 2 and data["points"] == []


def test_a_point_carries_the_series_as_drawn_and_survives_bad_records():
    p = point(_hist(1)[0], 0)
    assert p["epoch"] == 1 and p["kl"] == [0.001, 0.5]
    signs = [s for _, _, s in SERIES]
    assert p["v"] == [-29.0, -30.0, 28.0, 2.0] and signs[2] == -1.0  # −E_q[log p(x|z)] is drawn positive
    bad = point({"train_elbo": float("nan"), "test_elbo": "x", "kl_per_dim": "no"}, 4)
    assert bad["epoch"] == 5 and bad["v"] == [None, None, None, None] and bad["kl"] is None
    assert all(v is None or math.isfinite(v) for v in bad["v"])
