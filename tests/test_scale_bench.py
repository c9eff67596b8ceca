"""Issue 18: ``python -m bench.train --device cuda`` says "no GPU" without one, and its comparison
(this trainer against the pytorch/examples recipe on one device) runs, checked here on the CPU."""
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the benchmark would measure it")
def test_bench_on_cuda_without_a_gpu_says_so():
    r = subprocess.run([sys.executable, "-m", "bench.train", "--device", "cuda"], cwd=REPO, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("no GPU")


@pytest.mark.parametrize("arch,batch", [("mlp", 128), ("conv", 512)])
def test_the_device_comparison_measures_both_trainers(arch, batch):
    from bench.train import compare_on
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(192, 1, 28, 28, generator=g) > 0.7).float()
    res = compare_on(torch.device("cpu"), x[:128], x[128:], arch, batch, epochs=1, repeats=1)
    for kind in ("ours", "examples"):
        assert res[kind]["rate"] > 0 and math.isfinite(res[kind]["elbo"])
        assert res[kind]["elbo"] < 0  # nats per image of a Bernoulli likelihood
