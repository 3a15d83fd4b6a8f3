"""Image datasets as whole tensors: read once, preprocessed once on the device.

Datasets arrive as uint8 tensors (``N, C, H, W``). The trainer never sees a per-sample
DataLoader: it shuffles indices with a seeded ``torch.randperm`` and slices batches.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ablate.errors import DataError

IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass
class ImageData:
    """A classification dataset held as uint8 images and int64 labels."""

    name: str
    train_images: torch.Tensor  # uint8, (N, C, H, W)
    train_labels: torch.Tensor  # int64, (N,)
    test_images: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int
    classes: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def in_channels(self) -> int:
        return int(self.train_images.shape[1])


def read_idx(path: Path, expected_magic: int) -> torch.Tensor:
    """Read a (gzipped) IDX file, checking its magic number and its size."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise DataError(f"data file not found: {path}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"corrupt or truncated data file {path}: {exc}") from None
    if len(raw) < 8:
        raise DataError(f"corrupt data file {path}: only {len(raw)} bytes")
    (magic,) = struct.unpack(">I", raw[:4])
    if magic != expected_magic:
        raise DataError(
            f"corrupt data file {path}: magic number {magic:#010x}, expected {expected_magic:#010x}"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"corrupt data file {path}: header cut short")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = 1
    for d in dims:
        expected *= d
    if len(raw) - header != expected:
        raise DataError(
            f"corrupt or truncated data file {path}: {len(raw) - header} data bytes, "
            f"header promises {expected} for shape {tuple(dims)}"
        )
    data = torch.frombuffer(bytearray(raw[header:]), dtype=torch.uint8)
    return data.reshape(dims) if dims else data


def _idx_file(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def find_idx_dir(candidates: list[Path]) -> Path | None:
    """The first directory holding all four IDX files (gzipped or not)."""
    for directory in candidates:
        if all(_idx_file(directory, stem) for stem in IDX_FILES.values()):
            return directory
    return None


def _read_all(directory: Path) -> dict[str, torch.Tensor]:
    parts: dict[str, torch.Tensor] = {}
    for key, stem in IDX_FILES.items():
        path = _idx_file(directory, stem)
        assert path is not None
        magic = IDX_IMAGES_MAGIC if key.endswith("images") else IDX_LABELS_MAGIC
        parts[key] = read_idx(path, magic)
    return parts


def _decoded(directory: Path) -> dict[str, torch.Tensor]:
    """The four IDX files as tensors, via a decoded copy in the cache dir.

    Un-gzipping Fashion-MNIST takes about a second; every run and every sweep worker would
    pay it. The copy is keyed by the files' paths, sizes and modification times, so a
    changed file is read (and checked) again.
    """
    files = [_idx_file(directory, stem) for stem in IDX_FILES.values()]
    stamp = "|".join(
        f"{f.resolve()}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files if f is not None
    )
    cache = user_cache_dir() / "decoded" / f"{hashlib.sha256(stamp.encode()).hexdigest()[:24]}.pt"
    try:
        loaded = torch.load(cache, weights_only=True)
        if isinstance(loaded, dict) and set(loaded) == set(IDX_FILES):
            return loaded
    except Exception:  # missing, torn or foreign: decode the IDX files again
        pass
    parts = _read_all(directory)
    with contextlib.suppress(OSError):  # a read-only cache dir only costs speed
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp{os.getpid()}")
        torch.save(parts, tmp)
        os.replace(tmp, cache)
    return parts


def load_idx_dataset(
    name: str, directory: Path, num_classes: int, classes: list[str] | None = None
) -> ImageData:
    """Load the four IDX files of an MNIST-format dataset from ``directory``."""
    parts = _decoded(directory)
    for split in ("train", "test"):
        images, labels = parts[f"{split}_images"], parts[f"{split}_labels"]
        if images.shape[0] != labels.shape[0]:
            raise DataError(
                f"corrupt {name} data in {directory}: {images.shape[0]} {split} images "
                f"but {labels.shape[0]} labels"
            )
        if labels.numel() and int(labels.max()) >= num_classes:
            raise DataError(
                f"corrupt {name} labels in {directory}: label {int(labels.max())} "
                f"outside 0..{num_classes - 1}"
            )
    return ImageData(
        name=name,
        train_images=parts["train_images"].unsqueeze(1),
        train_labels=parts["train_labels"].long(),
        test_images=parts["test_images"].unsqueeze(1),
        test_labels=parts["test_labels"].long(),
        num_classes=num_classes,
        classes=classes or [str(i) for i in range(num_classes)],
        source=str(directory),
    )


def user_cache_dir() -> Path:
    """Where downloads go when no ``--data-dir`` is given."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("ablate"))


def search_dirs(
    name: str, data_dir: Path | None, system_dir: Path | None, torchvision_name: str
) -> list[Path]:
    """Where an IDX dataset is looked for, in order: flag, $ABLATE_DATA, cache, system."""
    roots: list[Path] = []
    if data_dir is not None:
        roots.append(Path(data_dir))
    if os.environ.get("ABLATE_DATA"):
        roots.append(Path(os.environ["ABLATE_DATA"]))
    roots.append(user_cache_dir())
    found: list[Path] = []
    for root in roots:
        found += [root, root / name, root / torchvision_name / "raw"]
    if system_dir is not None:
        found.append(system_dir)
    return found


@dataclass
class PreparedData:
    """Float tensors on the device, resized and scaled to [0, 1], ready to slice."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    in_channels: int
    image_size: int

    def standardised(self, mean: float, std: float) -> PreparedData:
        """A copy with ``(x - mean) / std`` applied once to every image."""
        return PreparedData(
            (self.train_x - mean) / std,
            self.train_y,
            (self.test_x - mean) / std,
            self.test_y,
            self.num_classes,
            self.in_channels,
            self.image_size,
        )


def _to_float(
    images: torch.Tensor, image_size: int, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    out = images.to(device).to(dtype).div_(255.0)
    if out.shape[-1] != image_size or out.shape[-2] != image_size:
        out = F.interpolate(
            out,
            size=(image_size, image_size),
            mode="bilinear",
            align_corners=False,
            antialias=False,
        )
    return out.contiguous()


def prepare(
    data: ImageData,
    *,
    image_size: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    train_size: int | None = None,
    test_size: int | None = None,
) -> PreparedData:
    """Move a subset of ``data`` to ``device`` once, resized to ``image_size``."""
    n_train = (
        len(data.train_labels) if train_size is None else min(train_size, len(data.train_labels))
    )
    n_test = len(data.test_labels) if test_size is None else min(test_size, len(data.test_labels))
    return PreparedData(
        train_x=_to_float(data.train_images[:n_train], image_size, device, dtype),
        train_y=data.train_labels[:n_train].to(device),
        test_x=_to_float(data.test_images[:n_test], image_size, device, dtype),
        test_y=data.test_labels[:n_test].to(device),
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        image_size=image_size,
    )


def write_idx(path: Path, array: torch.Tensor, *, compress: bool = True) -> None:
    """Write a uint8 tensor as an IDX file (used by tests and the synthetic dataset)."""
    array = array.to(torch.uint8).contiguous()
    magic = 0x00000800 | array.dim()
    header = struct.pack(">I", magic) + struct.pack(f">{array.dim()}I", *array.shape)
    payload = header + array.numpy().tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(path, "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)
