#!/usr/bin/env bash
# Set up ablate in ./.venv: PyTorch (pinned to the release this machine has on disk),
# ablate itself with its test tools, and Fashion-MNIST from Debian's package when apt exists.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
TORCH_PINS=${TORCH_PINS:-"torch==2.14.1 torchvision==0.29.1"}

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# One resolver run: the pins stop pip from pulling a newer torch.
# shellcheck disable=SC2086
.venv/bin/python -m pip install -q $TORCH_PINS -e ".[test]"

if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "setup: Fashion-MNIST found in /usr/share/datasets/fashion-mnist"
elif command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing Debian's dataset-fashion-mnist"
  if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist; } >/dev/null; then
    echo "setup: could not install dataset-fashion-mnist; use 'ablate run --download' or --data-dir" >&2
  fi
else
  echo "setup: no apt-get here: fetch Fashion-MNIST with 'ablate run --download'" \
       "(torchvision) or point --data-dir / \$ABLATE_DATA at the four IDX .gz files" >&2
fi
echo "setup: done; activate with '. .venv/bin/activate'"
