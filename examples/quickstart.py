"""ablate from Python, as in a notebook: one run, an inline plugin, and a comparison.

Shows ``ablate.run(config) -> RunResult`` and ``ablate.register_plugin`` for a model
defined on the spot. Runs in seconds on synthetic data; pass ``--dataset fashion-mnist``
for the real thing.

    python examples/quickstart.py [--dataset fashion-mnist] [--epochs 2]
"""

from __future__ import annotations

import argparse

from torch import nn

import ablate
from ablate import hookimpl

DATASET = "synthetic"
EPOCHS = 2


def wide_mlp(norm, *, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """A model with one normalisation slot, ``hidden``; any placement can target it."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_channels * image_size * image_size, 256),
        norm("hidden", 256),
        nn.ReLU(),
        nn.Linear(256, num_classes),
    )


class QuickPlugin:
    @hookimpl
    def register_models(self, register):
        register("wide-mlp", wide_mlp, "one hidden layer, defined in examples/quickstart.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=DATASET)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args()

    ablate.register_plugin(QuickPlugin(), name="quickstart")
    try:
        for model, placement in [
            ("lenet5", "none"),
            ("lenet5", "seed"),
            ("wide-mlp", "none"),
            ("wide-mlp", "bn:hidden"),
        ]:
            result = ablate.run(
                model=model,
                placement=placement,
                dataset=args.dataset,
                epochs=args.epochs,
                train_size=10_000,
                test_size=2_000,
            )
            print(
                f"{model:9} {result.placement:20} val acc {result.final_val_acc:.4f} "
                f"({result.wall_time_s:.1f}s, {result.status})"
            )
    finally:
        ablate.unregister_plugin("quickstart")


if __name__ == "__main__":
    main()
