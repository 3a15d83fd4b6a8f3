"""Per-trial training throughput: seed DataLoader loop vs plain trainer vs fused groups.

All four train LeNet-5 with Adam 1e-3, batch 64, float32, on real Fashion-MNIST:

(a) seed-style: torchvision ``FashionMNIST`` + ``Resize(32)`` + ``ToTensor`` +
    ``Normalize(0.5, 0.5)`` (PIL per sample) through a shuffling ``DataLoader``, seed
    placement (input + BatchNorm at conv2 and fc1);
(b) ablate's plain trainer (``ablate.run``), seed placement;
(c) ``train_fused`` with K=8 and (d) K=32 trials: the bn-placement study's 32
    architectures (input on/off x BatchNorm on/off at conv1, conv2, fc1, fc2).

Throughput is training images per second over one epoch (training only) as each trial
sees it, and times the trials trained at once: the sweep's speed, which the ratios to (b)
compare. ``--device cuda`` also times the full seed protocol (train and test every
epoch, ``--protocol-epochs``, 30 by default) as wall time per trial, amortised over K.

    python benchmarks/bench_fused.py --quick          # a fraction of an epoch, ~a minute
    python benchmarks/bench_fused.py --device cuda    # the GPU numbers
"""

from __future__ import annotations

import argparse
import itertools
import platform
import shutil
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from bench_trainer import torchvision_root  # same folder: run as benchmarks/bench_fused.py

import ablate
from ablate.config import RunConfig
from ablate.engine import load_dataset
from ablate.environment import device_name, resolve_device
from ablate.fused import train_fused
from ablate.models import build_model, resolve_placement

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
SLOTS = ("conv1", "conv2", "fc1", "fc2")


def bn_placements() -> list[str]:
    """The 32 architectures of the bn-placement study, spelled."""
    spelled = []
    for use_input in (False, True):
        for mask in itertools.product((False, True), repeat=len(SLOTS)):
            slots = [s for s, on in zip(SLOTS, mask, strict=True) if on]
            parts = (["input"] if use_input else []) + (["bn:" + "+".join(slots)] if slots else [])
            spelled.append("+".join(parts) or "none")
    return spelled


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seed_loop(
    root: Path, device: torch.device, images: int, epochs: int, evaluate: bool
) -> tuple[float, float]:
    """(a): (train images/s of the first epoch, wall seconds of ``epochs`` epochs)."""
    from torchvision import datasets, transforms

    transform = transforms.Compose(
        [transforms.Resize(32), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]
    )
    train = datasets.FashionMNIST(str(root), train=True, download=False, transform=transform)
    test = datasets.FashionMNIST(str(root), train=False, download=False, transform=transform)
    loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test, batch_size=1000)
    torch.manual_seed(0)
    model, _ = build_model(
        "lenet5", resolve_placement("seed"), in_channels=1, num_classes=10, image_size=32
    )
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.1)
    rate, start = 0.0, time.perf_counter()
    for epoch in range(epochs):
        model.train()
        seen, tick = 0, time.perf_counter()
        for x, y in loader:
            if seen >= images:
                break
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += len(y)
        _sync(device)
        if epoch == 0:
            rate = seen / (time.perf_counter() - tick)
        if evaluate:
            model.eval()
            with torch.no_grad():
                for x, y in test_loader:
                    model(x.to(device)).argmax(1).eq(y.to(device)).sum().item()
        scheduler.step()
    _sync(device)
    return rate, time.perf_counter() - start


def base_config(args: argparse.Namespace, device: torch.device, epochs: int) -> dict:
    return dict(
        dataset="fashion-mnist",
        data_dir=args.data,
        device=str(device),
        batch_size=64,
        epochs=epochs,
        train_size=args.images,
        test_size=args.test_images,
    )


def plain(args, device: torch.device, epochs: int) -> tuple[float, float]:
    """(b): (train images/s of the first epoch, wall seconds)."""
    start = time.perf_counter()
    result = ablate.run(RunConfig(**base_config(args, device, epochs), placement="seed"))
    return result.epochs[0].images_per_s, time.perf_counter() - start


def fused(args, device: torch.device, k: int, epochs: int) -> tuple[float, float]:
    """(c)/(d): (per-trial train images/s of the first epoch, wall seconds per trial)."""
    placements = bn_placements()
    configs = [
        RunConfig(**base_config(args, device, epochs), placement=placements[i % 32], seed=i)
        for i in range(k)
    ]
    start = time.perf_counter()
    results = train_fused(configs, on_event=print)
    return results[0].epochs[0].images_per_s, (time.perf_counter() - start) / k


def table(title: str, rows: list[tuple[str, int, float]], unit: str, rate: bool) -> None:
    """Rows of (method, trials at once, value per trial); ratios compare sweep speed."""
    print(f"\n{title}")
    if rate:  # images/s each trial sees, and what K trials at once get through
        print(f"{'method':28} {unit:>20} {'x trials':>9} {'= sweep images/s':>17} {'vs (b)':>7}")
        reference = rows[1][1] * rows[1][2]
        for name, k, value in rows:
            total = value * k
            print(f"{name:28} {value:20,.1f} {k:9d} {total:17,.1f} {total / reference:6.2f}x")
    else:  # wall seconds per trial, amortised over the trials trained at once
        print(f"{'method':28} {unit:>20} {'vs (b)':>7}")
        reference = rows[1][2]
        for name, _k, value in rows:
            print(f"{name:28} {value:20,.1f} {reference / value:6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--quick", action="store_true", help="2048 training images, not 60000")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--data", type=Path, default=SYSTEM_DIR)
    parser.add_argument("--fuse", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--protocol-epochs", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    args.images = 2048 if args.quick else None
    args.test_images = 1000 if args.quick else None
    data = load_dataset("fashion-mnist", args.data)  # parse the IDX files before timing
    images = args.images or len(data.train_labels)
    root = torchvision_root(args.data)
    print(
        f"{device_name(device)}; {platform.machine()}; torch {torch.__version__}; "
        f"{images} training images per epoch"
    )
    try:
        rows = [
            ("(a) seed DataLoader loop", 1, seed_loop(root, device, images, 1, False)[0]),
            ("(b) plain trainer", 1, plain(args, device, 1)[0]),
        ]
        for letter, k in zip("cdefgh", args.fuse, strict=False):
            rows.append((f"({letter}) fused K={k}", k, fused(args, device, k, 1)[0]))
        table("one epoch, training only", rows, "images/s per trial", rate=True)
        if device.type == "cuda":
            epochs = 1 if args.quick else args.protocol_epochs
            protocol = [
                ("(a) seed DataLoader loop", 1, seed_loop(root, device, images, epochs, True)[1]),
                ("(b) plain trainer", 1, plain(args, device, epochs)[1]),
            ]
            for letter, k in zip("cdefgh", args.fuse, strict=False):
                protocol.append((f"({letter}) fused K={k}", k, fused(args, device, k, epochs)[1]))
            title = f"full seed protocol, {epochs} epochs (train + test each epoch)"
            table(title, protocol, "wall s per trial", rate=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
