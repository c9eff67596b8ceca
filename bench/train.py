"""Training throughput: this trainer against two DataLoader baselines, on real MNIST.

Data: the official MNIST test images (../shared/data/mnist), first 8,000 as the
train split and last 2,000 as the test split, written as IDX files to a temp dir
and loaded by vae.data like any MNIST folder. Model: 784-400-20 (pytorch/examples).

- ours:        vae.training.loop.fit: in-memory float tensor, batches by slicing a permutation.
- examples:    the pytorch/examples loop: a Dataset holding uint8 images that makes a PIL
               image per item and converts it as ToTensor does, DataLoader(shuffle=True),
               loss BCE(sum) + KL, Adam 1e-3.
- tensords:    the same loop over DataLoader(TensorDataset(float images)).

All three train the same initial weights with batch 128 and Adam 1e-3 for the same
epochs, with a test pass per epoch (as pytorch/examples does); runs alternate so
machine noise hits all alike. Test ELBO is measured by one evaluator for all.
Also: wall time of the default digits run, command to saved run.

``--device cuda`` measures on the GPU instead (or says "no GPU" and measures nothing): this
trainer against the pytorch/examples recipe as it runs there (DataLoader with one worker and
pinned memory, each batch copied to the GPU), for the 784-400-20 MLP at batch 128 and the conv
model at batch 512, samples/s and test ELBO after the same epochs.

    python -m bench.train [--epochs 3] [--repeats 3] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from bench.table import print_table
from vae.config import ModelConfig, TrainConfig
from vae.data import load_dataset, write_idx
from vae.data.idx import read_idx
from vae.model.networks import build_model
from vae.model.evaluation import evaluate_split
from vae.training.loop import fit

REPO = Path(__file__).resolve().parents[1]
MNIST = REPO.parent / "shared" / "data" / "mnist"
BATCH, LR = 128, 1e-3


def make_split(dirpath: Path) -> None:
    images = read_idx(MNIST / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(MNIST / "t10k-labels-idx1-ubyte.gz")
    write_idx(dirpath / "train-images-idx3-ubyte.gz", images[:8000])
    write_idx(dirpath / "train-labels-idx1-ubyte.gz", labels[:8000])
    write_idx(dirpath / "t10k-images-idx3-ubyte.gz", images[8000:])
    write_idx(dirpath / "t10k-labels-idx1-ubyte.gz", labels[8000:])


class ExamplesMNIST(torch.utils.data.Dataset):
    """What torchvision.datasets.MNIST + transforms.ToTensor() do per item."""

    def __init__(self, images_u8: np.ndarray):
        self.data = torch.from_numpy(images_u8)

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        img = Image.fromarray(self.data[i].numpy(), mode="L")
        t = torch.from_numpy(np.array(img, np.uint8, copy=True)).view(1, 28, 28)  # ToTensor
        return t.float().div(255), 0


def examples_loss(model, x):
    """pytorch/examples' loss_function: BCE on sigmoid outputs, summed, plus the KL."""
    q = model.encode(x)
    mu, logvar = q.params()
    z = q.rsample()
    recon = torch.sigmoid(model.decode(z))  # the examples' decoder ends in a sigmoid
    bce = F.binary_cross_entropy(recon.view(-1, 784), x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())  # Kingma & Welling, Appendix B
    return bce + kld


def loader_fit(model, train_loader, test_loader, epochs: int, device: torch.device | None = None) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    for _ in range(epochs):
        model.train()
        for x, _ in train_loader:
            if device is not None:
                x = x.to(device)
            opt.zero_grad()
            loss = examples_loss(model, x)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            for x, _ in test_loader:
                examples_loss(model, x if device is None else x.to(device))


def fresh_model(seed: int = 0, arch: str = "mlp"):
    torch.manual_seed(seed)
    return build_model(ModelConfig(arch=arch, image_size=28, latent_dim=20, hidden=[400] if arch == "mlp" else [256]))


def run_once(kind: str, splits, u8_train, u8_test, epochs: int, seed: int):
    model = fresh_model(seed)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    if kind == "ours":
        fit(model, splits.train.x, splits.test.x, TrainConfig(epochs=epochs, batch_size=BATCH, lr=LR, seed=seed))
    else:
        if kind == "examples":
            tr, te = ExamplesMNIST(u8_train), ExamplesMNIST(u8_test)
        else:
            tr = torch.utils.data.TensorDataset(splits.train.x, splits.train.y)
            te = torch.utils.data.TensorDataset(splits.test.x, splits.test.y)
        g = torch.Generator().manual_seed(seed)
        loader_fit(model, torch.utils.data.DataLoader(tr, batch_size=BATCH, shuffle=True, generator=g),
                   torch.utils.data.DataLoader(te, batch_size=BATCH), epochs)
    seconds = time.perf_counter() - t0
    return seconds, evaluate_split(model, splits.test.x)["elbo"]


def default_run_seconds(repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "vae.train", "--dataset", "digits", "--out", f"{d}/run"],
                           cwd=REPO, check=True, capture_output=True)
            out.append(time.perf_counter() - t0)
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compare_on(device: torch.device, x_train: torch.Tensor, x_test: torch.Tensor, arch: str, batch: int,
               epochs: int, repeats: int) -> dict:
    """This trainer against the pytorch/examples recipe on one device: the same initial weights,
    batch, Adam 1e-3 and epochs (a test pass per epoch in both); runs alternate.
    x_*: (N, 1, 28, 28) in [0, 1]. Returns {"ours"|"examples": {"rate": samples/s, "elbo": test ELBO}}."""
    u8 = (x_train[:, 0] * 255).round().to(torch.uint8).numpy()
    u8_test = (x_test[:, 0] * 255).round().to(torch.uint8).numpy()
    loader_kw = {"num_workers": 1, "pin_memory": True} if device.type == "cuda" else {}  # as the examples do
    secs: dict[str, list[float]] = {"ours": [], "examples": []}
    elbos: dict[str, list[float]] = {"ours": [], "examples": []}
    for r in range(repeats):
        for kind in (("ours", "examples") if r % 2 == 0 else ("examples", "ours")):
            model = fresh_model(r, arch).to(device)
            torch.manual_seed(r)
            _sync(device)
            t0 = time.perf_counter()
            if kind == "ours":
                fit(model, x_train, x_test, TrainConfig(epochs=epochs, batch_size=batch, lr=LR, seed=r))
            else:
                g = torch.Generator().manual_seed(r)
                loader_fit(model, torch.utils.data.DataLoader(ExamplesMNIST(u8), batch_size=batch, shuffle=True,
                                                              generator=g, **loader_kw),
                           torch.utils.data.DataLoader(ExamplesMNIST(u8_test), batch_size=batch, **loader_kw),
                           epochs, device)
            _sync(device)
            secs[kind].append(time.perf_counter() - t0)
            elbos[kind].append(evaluate_split(model, x_test)["elbo"])
    n = len(x_train) * epochs
    return {k: {"rate": n / statistics.median(secs[k]), "elbo": statistics.median(elbos[k])} for k in secs}


def gpu_main(args) -> int:
    if not torch.cuda.is_available():
        print("no GPU: --device cuda needs a CUDA device, and this machine has none; nothing measured")
        return 0
    if not (MNIST / "t10k-images-idx3-ubyte.gz").exists():
        print(f"MNIST test files not found in {MNIST}; skipping the throughput benchmark")
        return 0
    device = torch.device("cuda")
    with tempfile.TemporaryDirectory() as d:
        make_split(Path(d))
        splits = load_dataset("mnist", d, download=False)
    rows = []
    for arch, batch in (("mlp", 128), ("conv", 512)):
        res = compare_on(device, splits.train.x, splits.test.x, arch, batch, args.epochs, args.repeats)
        o, e = res["ours"], res["examples"]
        rows += [
            [f"{arch} b{batch}: ours samples/s", f"{o['rate']:,.0f}", "", ""],
            [f"{arch} b{batch}: examples samples/s", f"{e['rate']:,.0f}", "", ""],
            [f"{arch} b{batch}: speed-up vs examples", f"{o['rate'] / e['rate']:.2f}×", "≥ 1.0×",
             o["rate"] >= e["rate"]],
            [f"{arch} b{batch}: test ELBO ours − examples", f"{o['elbo']:.2f} − {e['elbo']:.2f} = "
             f"{o['elbo'] - e['elbo']:+.2f}", "≥ −1 (no worse)", o["elbo"] - e["elbo"] >= -1.0],
        ]
    print(f"Training throughput on {torch.cuda.get_device_name(device)}, MNIST (8,000 train / 2,000 test), "
          f"{args.epochs} epochs, median of {args.repeats} alternating runs")
    print_table(["measure", "value", "target", "ok"], rows)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cpu: this trainer against two DataLoader baselines; cuda: against pytorch/examples on the GPU")
    args = p.parse_args(argv)
    if args.device == "cuda":
        return gpu_main(args)
    if not (MNIST / "t10k-images-idx3-ubyte.gz").exists():
        print(f"MNIST test files not found in {MNIST}; skipping the throughput benchmark")
        return 0
    with tempfile.TemporaryDirectory() as d:
        make_split(Path(d))
        splits = load_dataset("mnist", d, download=False)
        u8_train = (splits.train.x[:, 0] * 255).round().to(torch.uint8).numpy()
        u8_test = (splits.test.x[:, 0] * 255).round().to(torch.uint8).numpy()
        kinds = ["ours", "examples", "tensords"]
        secs = {k: [] for k in kinds}
        elbos = {k: [] for k in kinds}
        for r in range(args.repeats):
            for k in (kinds if r % 2 == 0 else kinds[::-1]):  # alternate the order too
                s, e = run_once(k, splits, u8_train, u8_test, args.epochs, seed=r)
                secs[k].append(s)
                elbos[k].append(e)
    n = len(splits.train) * args.epochs
    rate = {k: n / statistics.median(v) for k, v in secs.items()}
    elbo = {k: statistics.median(v) for k, v in elbos.items()}
    rows = [
        ["ours: samples/s", f"{rate['ours']:,.0f}", "", ""],
        ["examples (PIL per item) samples/s", f"{rate['examples']:,.0f}", "", ""],
        ["tensords (TensorDataset) samples/s", f"{rate['tensords']:,.0f}", "", ""],
        ["speed-up vs examples", f"{rate['ours'] / rate['examples']:.2f}×", "≥ 1.4×",
         rate["ours"] / rate["examples"] >= 1.4],
        ["speed-up vs tensords", f"{rate['ours'] / rate['tensords']:.2f}×", "≥ 1.0×",
         rate["ours"] / rate["tensords"] >= 1.0],
        [f"test ELBO after {args.epochs} epochs: ours", f"{elbo['ours']:.2f}", "", ""],
        [f"test ELBO after {args.epochs} epochs: examples", f"{elbo['examples']:.2f}", "", ""],
        ["test ELBO: ours − examples (nats)", f"{elbo['ours'] - elbo['examples']:+.2f}", "≥ −1 (no worse)",
         elbo["ours"] - elbo["examples"] >= -1.0],
    ]
    wall = default_run_seconds(args.repeats)
    rows.append(["default digits run, command → saved run", f"{statistics.median(wall):.1f} s", "≤ 10 s",
                 statistics.median(wall) <= 10])
    print(f"Training throughput on MNIST (8,000 train / 2,000 test, 784-400-20, batch {BATCH}, "
          f"{args.epochs} epochs, median of {args.repeats} alternating runs)")
    print_table(["measure", "value", "target", "ok"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
