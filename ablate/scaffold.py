"""``ablate plugins new NAME``: write a ready-to-install plugin package to start from.

The skeleton is the smallest complete plugin: a ``pyproject.toml`` declaring an ``ablate``
entry point, a module registering one model with one normalisation slot, and a test that
runs ``ablate.testing.ModelContract`` against it. ``pip install -e ".[test]"`` then
``pytest`` works straight away; examples/plugin-package shows every other kind of hook.
"""

from __future__ import annotations

import re
from pathlib import Path

from ablate import __version__
from ablate.errors import AblateError
from ablate.plugins import BUILTIN_MODULES

_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# A built-in plugin's name would shadow or be shadowed by it; ``plugins`` would make the
# module ``ablate_plugins``, which is where the built-ins live.
RESERVED = frozenset({*BUILTIN_MODULES, "plugins"})

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "ablate-{name}"
version = "0.1.0"
description = "An ablate plugin: the {name} model"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["ablate>={ablate_version}"]

[project.optional-dependencies]
test = ["pytest>=8"]

# One entry point is one plugin; `ablate plugins` lists it under this name.
[project.entry-points.ablate]
{name} = "{module}"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

MODULE = '''\
"""ablate-{name}: registers the ``{name}`` model with ablate.

Each ``norm(slot, num_features)`` call declares a normalisation slot; a run's placement
decides what goes there (``ablate run --model {name} --placement bn:hidden``). Add more
``@hookimpl`` functions for schedulers, placements, datasets or lifecycle hooks: see
ablate's docs/plugins.md.
"""

from __future__ import annotations

from ablate import hookimpl
from torch import nn


def mlp(norm, *, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """Flatten, one hidden layer with the slot ``hidden``, then the classifier."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_channels * image_size * image_size, 64),
        norm("hidden", 64),
        nn.ReLU(),
        nn.Linear(64, num_classes),
    )


@hookimpl
def register_models(register) -> None:
    register("{name}", mlp, "an MLP with one normalisation slot (from ablate-{name})")
'''

TEST = '''\
"""ablate's model contract: builds under every placement, right logits, and it learns."""

from ablate.testing import ModelContract


class TestModel(ModelContract):
    model = "{name}"
'''

README = """\
# ablate-{name}

An [ablate](https://pypi.org/project/ablate/) plugin that registers the `{name}` model.

```bash
pip install -e ".[test]"
pytest                                  # ablate.testing contracts
ablate plugins                          # lists '{name}' as an entry point plugin
ablate run --model {name} --dataset synthetic --epochs 1 --placement bn:hidden
```
"""


def check_name(name: str) -> str:
    """The name as given, or an ``AblateError`` saying what a name may contain."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise AblateError(
            f"invalid plugin name {name!r}: use lowercase letters, digits and single dashes, "
            f"e.g. 'my-net'"
        )
    if name in RESERVED:
        raise AblateError(f"plugin name {name!r} is taken by ablate's built-ins; choose another")
    return name


def write_skeleton(name: str, dest: Path) -> Path:
    """Write the package ``dest/ablate-NAME/`` and return its path.

    Raises ``AblateError`` (one line) for a bad name or when the directory already exists,
    so nothing a user wrote is ever overwritten.
    """
    check_name(name)
    module = "ablate_" + name.replace("-", "_")
    target = Path(dest) / f"ablate-{name}"
    if target.exists():
        raise AblateError(f"{target} already exists; remove it or choose another --dest")
    values = {"name": name, "module": module, "ablate_version": __version__}
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"src/{module}/__init__.py": MODULE,
        f"tests/test_{module}.py": TEST,
    }
    try:
        for relative, template in files.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(template.format(**values))
    except OSError as exc:
        raise AblateError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target
