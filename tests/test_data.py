"""The IDX loader and dataset search, on small files the tests write."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from ablate.data import IDX_IMAGES_MAGIC, read_idx, write_idx
from ablate.errors import DataError
from ablate_plugins.datasets import SYSTEM_DIRS, fashion_mnist
from conftest import make_idx_dir


def test_loads_generated_fashion_mnist_files(idx_dir: Path) -> None:
    data = fashion_mnist(data_dir=idx_dir)
    assert data.train_images.shape == (256, 1, 28, 28)
    assert data.train_images.dtype == torch.uint8
    assert data.test_labels.shape == (64,) and data.test_labels.dtype == torch.int64
    assert data.num_classes == 10 and data.classes[0] == "T-shirt/top"


def test_search_order_env_then_cache(tmp_path: Path, monkeypatch) -> None:
    env_dir = make_idx_dir(tmp_path / "env", n_train=30)
    cache_dir = make_idx_dir(tmp_path / "cache" / "ablate" / "fashion-mnist", n_train=40)
    assert len(fashion_mnist().train_labels) == 40  # the user cache dir
    monkeypatch.setenv("ABLATE_DATA", str(env_dir))
    assert len(fashion_mnist().train_labels) == 30
    flag_dir = make_idx_dir(tmp_path / "flag", n_train=20)
    assert len(fashion_mnist(data_dir=flag_dir).train_labels) == 20
    assert cache_dir.exists()


def test_missing_dataset_names_the_options(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(SYSTEM_DIRS, "fashion-mnist", tmp_path / "nowhere")
    with pytest.raises(DataError) as info:
        fashion_mnist(data_dir=tmp_path / "empty")
    message = str(info.value)
    for option in ("--data-dir", "$ABLATE_DATA", "--download", "dataset-fashion-mnist"):
        assert option in message


def test_truncated_file_is_named(idx_dir: Path) -> None:
    path = idx_dir / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz.*truncated|truncated.*train"):
        fashion_mnist(data_dir=idx_dir)


def test_cut_gzip_stream_is_named(idx_dir: Path) -> None:
    path = idx_dir / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        fashion_mnist(data_dir=idx_dir)


def test_wrong_magic_number_is_named(idx_dir: Path) -> None:
    path = idx_dir / "train-labels-idx1-ubyte.gz"
    write_idx(path, torch.zeros(256, 2, 2, dtype=torch.uint8))
    with pytest.raises(DataError, match="magic number.*train-labels|train-labels.*magic"):
        fashion_mnist(data_dir=idx_dir)


def test_mismatched_counts_are_reported(idx_dir: Path) -> None:
    write_idx(idx_dir / "train-labels-idx1-ubyte.gz", torch.zeros(10, dtype=torch.uint8))
    with pytest.raises(DataError, match="256 train images but 10 labels"):
        fashion_mnist(data_dir=idx_dir)


def test_uncompressed_idx_files_work_too(tmp_path: Path) -> None:
    images = torch.randint(0, 255, (5, 3, 4), dtype=torch.uint8)
    write_idx(tmp_path / "x-idx3-ubyte", images, compress=False)
    torch.testing.assert_close(read_idx(tmp_path / "x-idx3-ubyte", IDX_IMAGES_MAGIC), images)


def test_cli_reports_corrupt_data_in_one_line(idx_dir: Path, cli) -> None:
    (idx_dir / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    result = cli("run", "--data-dir", idx_dir, "--epochs", "1")
    assert result.code == 2
    assert result.err.strip().count("\n") == 0 and "train-images-idx3-ubyte.gz" in result.err
