"""AdaNAS pipeline components, one folder each (component.py + README.md).

Each component is a thin wrapper: it converts KFP inputs/outputs and calls one function of the
`adanas` library. Components are built for a container image, whose tag is the package version:

    from components import build
    ops = build("us-docker.pkg.dev/MY_PROJECT/adanas/adanas:0.1.0")
    ops.train_candidate(candidate=..., training=..., dataset=...)

`DEFAULT` is built for the image name `adanas:<version>` (what `make images` tags locally).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from adanas import __version__
from components.augment_data import component as _augment
from components.evaluate_ensemble import component as _evaluate
from components.generate_candidates import component as _generate
from components.select_ensemble import component as _select
from components.train_candidate import component as _train

DEFAULT_IMAGE = f"adanas:{__version__}"


@dataclass(frozen=True)
class Components:
    augment_data: object
    generate_candidates: object
    train_candidate: object
    select_ensemble: object
    evaluate_ensemble: object


def build(image: str = DEFAULT_IMAGE, train_image: str | None = None) -> Components:
    """All components, running in `image` (training in `train_image`, default the same)."""
    return Components(
        augment_data=_augment.make(image),
        generate_candidates=_generate.make(image),
        train_candidate=_train.make(train_image or image),
        select_ensemble=_select.make(image),
        evaluate_ensemble=_evaluate.make(image),
    )


def export_specs(out_dir: str | Path, image: str = DEFAULT_IMAGE) -> list[Path]:
    """Writes each component's YAML spec (loadable with kfp.components.load_component_from_file)."""
    from kfp import compiler
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ops = build(image)
    paths = []
    for f in fields(ops):
        path = out / f"{f.name}.yaml"
        compiler.Compiler().compile(getattr(ops, f.name), str(path))
        paths.append(path)
    return paths


DEFAULT = build()
