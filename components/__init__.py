"""AdaNAS pipeline components, one folder each (component.py + README.md).

Each component is a thin wrapper: it converts KFP inputs/outputs and calls one step function of
the `adanas` library (`<module>.<verb>_step`). Components are built for a container image:

    from components import build
    ops = build("us-docker.pkg.dev/MY_PROJECT/adanas/adanas:TAG")
    ops.train_candidate(candidate=..., training=..., dataset=...)

Nothing is built at import time; `build()` with no image uses the local repository name
`adanas` with this source's tag (`adanas.images.image_ref`, what `make images` tags).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from adanas.images import image_ref
from components.distill_student.component import distill_student
from components.evaluate_ensemble.component import evaluate_ensemble
from components.generate_candidates.component import generate_candidates
from components.glue import component
from components.prepare_dataset.component import prepare_dataset
from components.register_model.component import register_model
from components.select_ensemble.component import select_ensemble
from components.train_candidate.component import train_candidate

@dataclass(frozen=True)
class Components:
    prepare_dataset: object
    generate_candidates: object
    train_candidate: object
    select_ensemble: object
    evaluate_ensemble: object
    distill_student: object
    register_model: object


def build(image: str | None = None, train_image: str | None = None) -> Components:
    """All components, running in `image` (training in `train_image`, default the same)."""
    image = image or image_ref("adanas")
    return Components(
        prepare_dataset=component(prepare_dataset, image),
        generate_candidates=component(generate_candidates, image),
        train_candidate=component(train_candidate, train_image or image),
        select_ensemble=component(select_ensemble, image),
        evaluate_ensemble=component(evaluate_ensemble, image),
        # Trains a network: the training image (GPU/TPU build) where training asks for one.
        distill_student=component(distill_student, train_image or image),
        register_model=component(register_model, image),
    )


def export_specs(out_dir: str | Path, image: str | None = None) -> list[Path]:
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
