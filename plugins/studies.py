"""Built-in studies: ``bn-placement`` (where does BatchNorm help LeNet-5?) and ``seed``."""

from __future__ import annotations

from ablate import hookimpl
from ablate.config import RunConfig
from ablate.study import Budget, Param, Study

SLOTS = ("conv1", "conv2", "fc1", "fc2")


def bn_placement() -> Study:
    """Input standardisation x BatchNorm at each LeNet-5 slot (32 architectures), lr, scheduler."""
    return Study(
        name="bn-placement",
        description="Where does BatchNorm help LeNet-5 on Fashion-MNIST? Input standardisation "
        "x BN at conv1/conv2/fc1/fc2 (32 architectures) x lr x scheduler",
        protocol=RunConfig(
            model="lenet5",
            dataset="fashion-mnist",
            optimizer="adam",
            epochs=30,
            batch_size=64,
            placement="none",
        ),
        space=[
            Param(name="placement.input", choices=[False, True]),
            *(Param(name=f"placement.{slot}", choices=[False, True]) for slot in SLOTS),
            Param(name="lr", type="logfloat", low=1e-4, high=1e-1, grid=[3e-4, 1e-3, 3e-3]),
            Param(name="scheduler", choices=["none", "step", "cosine"]),
        ],
        seeds=3,
        # All 32 architectures first (lr and scheduler sampled), then the sampler explores.
        cover=["placement.input", *(f"placement.{slot}" for slot in SLOTS)],
        sampler="tpe",
        # No pruning by default: nets without BatchNorm start slower, so pruning early
        # epochs would bias the very comparison this study makes (--pruner median to opt in).
        pruner="none",
        budget=Budget(n_trials=288),
        # Two cores: the 32 architectures x 3 seeds on a 12k-image subset for 4 epochs,
        # about 7 minutes with the default two workers.
        cpu_budget=Budget(n_trials=96, epochs=4, train_size=12000, test_size=5000),
        baseline="none",
        threshold=0.88,
    )


def seed_study() -> Study:
    """The lecture's A/B experiment: plain LeNet-5 vs input norm + two BatchNorms."""
    return Study(
        name="seed",
        description="The lecture's two models (none vs seed placement), Adam 1e-3, "
        "StepLR(5, 0.1), batch 64, 30 epochs, over several seeds",
        protocol=RunConfig(
            model="lenet5",
            dataset="fashion-mnist",
            optimizer="adam",
            lr=1e-3,
            scheduler="step",
            epochs=30,
            batch_size=64,
        ),
        space=[Param(name="placement", choices=["none", "seed"])],
        seeds=3,
        sampler="grid",
        pruner="none",
        baseline="none",
        threshold=0.88,
        reference={"none": {10: 0.85, 30: 0.865}, "seed": {10: 0.89, 30: 0.90}},
    )


@hookimpl
def register_studies(register) -> None:
    register(
        "bn-placement",
        bn_placement,
        "where BatchNorm helps LeNet-5: 32 architectures x lr x scheduler",
    )
    register("seed", seed_study, "the lecture's none-vs-seed A/B experiment over N seeds")
