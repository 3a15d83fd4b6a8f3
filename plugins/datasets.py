"""Built-in datasets: Fashion-MNIST and MNIST from IDX files, and a synthetic set for tests."""

from __future__ import annotations

from pathlib import Path

import torch

from ablate import hookimpl
from ablate.data import ImageData, find_idx_dir, load_idx_dataset, search_dirs, user_cache_dir
from ablate.errors import DataError

# Debian's dataset-fashion-mnist installs here; looked at last.
SYSTEM_DIRS = {
    "fashion-mnist": Path("/usr/share/datasets/fashion-mnist"),
    "mnist": Path("/usr/share/datasets/mnist"),
}

FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def _idx_dataset(
    name: str, torchvision_name: str, classes: list[str], data_dir: Path | None, download: bool
) -> ImageData:
    candidates = search_dirs(name, data_dir, SYSTEM_DIRS.get(name), torchvision_name)
    found = find_idx_dir(candidates)
    if found is None and download:
        target = Path(data_dir) if data_dir is not None else user_cache_dir()
        _download(torchvision_name, target)
        found = find_idx_dir(search_dirs(name, target, None, torchvision_name))
    if found is None:
        hint = (
            " or install Debian's package dataset-fashion-mnist" if name == "fashion-mnist" else ""
        )
        raise DataError(
            f"{name} not found; pass --data-dir DIR, set $ABLATE_DATA, "
            f"put the IDX files in {user_cache_dir() / name}{hint}, or add --download"
        )
    return load_idx_dataset(name, found, num_classes=10, classes=classes)


def _download(torchvision_name: str, target: Path) -> None:
    import torchvision

    dataset_class = getattr(torchvision.datasets, torchvision_name)
    try:
        dataset_class(root=str(target), train=True, download=True)
        dataset_class(root=str(target), train=False, download=True)
    except Exception as exc:
        raise DataError(f"download of {torchvision_name} failed: {exc}") from None


def fashion_mnist(*, data_dir: Path | None = None, download: bool = False) -> ImageData:
    return _idx_dataset("fashion-mnist", "FashionMNIST", FASHION_CLASSES, data_dir, download)


def mnist(*, data_dir: Path | None = None, download: bool = False) -> ImageData:
    return _idx_dataset("mnist", "MNIST", [str(i) for i in range(10)], data_dir, download)


def synthetic(
    *,
    data_dir: Path | None = None,
    download: bool = False,
    train: int = 1024,
    test: int = 256,
    size: int = 28,
    num_classes: int = 10,
) -> ImageData:
    """Ten noisy class templates: tiny, deterministic and quickly learnable."""
    g = torch.Generator().manual_seed(1234)
    templates = (torch.rand(num_classes, 1, size, size, generator=g) > 0.6).float()

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(n) % num_classes
        labels = labels[torch.randperm(n, generator=g)]
        noise = torch.rand(n, 1, size, size, generator=g)
        images = (templates[labels] * 150 + noise * 105).clamp(0, 255).to(torch.uint8)
        return images, labels

    train_x, train_y = split(train)
    test_x, test_y = split(test)
    return ImageData(
        "synthetic",
        train_x,
        train_y,
        test_x,
        test_y,
        num_classes,
        [f"class{i}" for i in range(num_classes)],
        source="generated",
    )


@hookimpl
def register_datasets(register) -> None:
    register(
        "fashion-mnist",
        fashion_mnist,
        "Zalando's Fashion-MNIST: 60k/10k 28x28 grey images, 10 classes (IDX files)",
    )
    register("mnist", mnist, "MNIST handwritten digits: 60k/10k 28x28 (IDX files)")
    register("synthetic", synthetic, "Generated noisy templates, tiny; for tests and smoke runs")
