"""The ``vggish`` plugin: registers the model, the scheduler and a placement preset."""

from __future__ import annotations

from ablate import hookimpl

from ablate_vggish.model import vggish
from ablate_vggish.schedule import warmup_cosine


@hookimpl
def register_models(register) -> None:
    register("vggish", vggish, "small VGG-style CNN: 3 conv blocks + a hidden layer, 4 slots")


@hookimpl
def register_schedulers(register) -> None:
    register("warmup-cosine", warmup_cosine, "linear warm-up (warmup_epochs=1), then cosine to 0")


@hookimpl
def register_placements(register) -> None:
    register("vgg-late-bn", "bn:block3+head", "vggish: BatchNorm only at block3 and head")
