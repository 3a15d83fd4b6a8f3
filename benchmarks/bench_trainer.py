"""Training throughput: the seed lecture's DataLoader loop vs ablate's trainer (issue: core).

Both train LeNet-5 with the seed placement (input standardisation + BatchNorm at conv2 and
fc1), Adam 1e-3, batch 64, on real Fashion-MNIST, on the CPU, in the same process:

(a) seed-style: torchvision ``FashionMNIST`` with ``Resize(32)``, ``ToTensor`` and
    ``Normalize(0.5, 0.5)`` (PIL per sample) through a shuffling ``DataLoader``;
(b) ablate: the whole dataset as one tensor, resized and standardised once, batches by
    index (``ablate.run``'s trainer loop).

Rounds alternate (a) and (b) to share the machine's noise; the ratio of medians is
reported. Run from the repository root:

    python benchmarks/bench_trainer.py [--steps 300] [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import gzip
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ablate.config import RunConfig
from ablate.engine import load_dataset, place_model, prepared_data
from ablate.environment import resolve_device
from ablate.models import build_model, resolve_placement
from ablate.trainer import batches

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")


def torchvision_root(source: Path) -> Path:
    """A temp dir in torchvision's layout (FashionMNIST/raw, uncompressed)."""
    root = Path(tempfile.mkdtemp(prefix="ablate-bench-"))
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in source.glob("*-ubyte.gz"):
        with gzip.open(gz, "rb") as src, open(raw / gz.name.removesuffix(".gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
    return root


def make_model() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model, _ = build_model(
        "lenet5", resolve_placement("seed"), in_channels=1, num_classes=10, image_size=32
    )
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def step(model, optimizer, x, y) -> None:
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def seed_style(root: Path, steps: int) -> float:
    """Images/s of the lecture's loop."""
    from torchvision import datasets, transforms

    transform = transforms.Compose(
        [transforms.Resize(32), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]
    )
    train = datasets.FashionMNIST(str(root), train=True, download=False, transform=transform)
    loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True)
    model, optimizer = make_model()
    model.train()
    seen, start = 0, time.perf_counter()
    for i, (x, y) in enumerate(loader):
        if i == steps:
            break
        step(model, optimizer, x, y)
        seen += len(y)
    return seen / (time.perf_counter() - start)


def ablate_style(steps: int) -> float:
    """Images/s of ablate's trainer loop (data prepared once, outside the timing)."""
    config = RunConfig(placement="seed")
    data = prepared_data(config, resolve_device("cpu")).standardised(0.5, 0.5)
    model, _ = make_model()
    model = place_model(model, torch.device("cpu"))  # exactly as ablate.run places it
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    perm = torch.randperm(len(data.train_y), generator=torch.Generator().manual_seed(0))
    seen, start = 0, time.perf_counter()
    for i, idx in enumerate(batches(perm, 64)):
        if i == steps:
            break
        step(model, optimizer, data.train_x[idx], data.train_y[idx])
        seen += len(idx)
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--data", type=Path, default=SYSTEM_DIR)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_dataset("fashion-mnist", args.data)  # parse the IDX files before timing
    root = torchvision_root(args.data)
    a, b = [], []
    try:
        for _ in range(args.rounds):
            a.append(seed_style(root, args.steps))
            b.append(ablate_style(args.steps))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ma, mb = statistics.median(a), statistics.median(b)
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}"
    )
    print(
        f"(a) seed-style DataLoader loop : {ma:8.0f} images/s  (rounds: "
        + ", ".join(f"{v:.0f}" for v in a)
        + ")"
    )
    print(
        f"(b) ablate trainer             : {mb:8.0f} images/s  (rounds: "
        + ", ".join(f"{v:.0f}" for v in b)
        + ")"
    )
    print(f"ratio (b)/(a): {mb / ma:.2f}x")


if __name__ == "__main__":
    main()
