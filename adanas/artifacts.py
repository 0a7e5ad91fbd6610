"""The on-disk format of every AdaNAS artifact: file names, writers, readers, format version.

Every artifact is a folder that stands alone: a task needs nothing but the artifacts it declares
as inputs, because no artifact points at another one's files (on open-source KFP a task's pod
holds only its own declared inputs; see pipelines/hermetic.py). Each folder's JSON record
carries `format: {kind, version}`; a reader refuses a folder of another kind or version with a
message saying what it found and what to do.

Dataset (prepare step)
    meta.json                         num_classes, class_names, image_shape, split sizes, the
                                      augmentation policy, the source
    train.npz, validation.npz, test.npz   x: uint8 [N, H, W, C] raw pixels, y: int64 [N]
Candidate (train step)
    candidate.json                    spec and metrics, or spec and `failed` (the error)
    model.keras                       the trained subnetwork for inference (raw images in, logits out)
    logits_{validation,test}.npy      float32 [N, C], cached for selection and reports
    logits_train.npy                  float32 [N, C] on un-augmented training images (distillation on)
Ensemble (select step)
    ensemble.json                     members (spec, metrics), mixture weights and bias,
                                      per-iteration history, the next iteration's plan or why
                                      the search stops
    models/<name>.keras               every subnetwork the ensemble may use: its members (and,
                                      with the caruana ensembler, the whole pool it picks from)
    member_logits_{split}.npy         float32 [M, N, C] cached member logits
    pool_logits_{split}.npy           caruana only: float32 [P, N, C] of the pool
    teacher_logits_train.npz          distillation on: {"adaptive", "born_again"} [N, C], the
                                      next iteration's teachers
Report (evaluate step)
    report.json, report.md
Exported model (evaluate step)
    ensemble.keras                    raw images in, combined logits out; standard Keras layers
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
SPLITS = ("train", "validation", "test")

DATASET_RECORD = "meta.json"
CANDIDATE_RECORD = "candidate.json"
MODEL_FILE = "model.keras"
ENSEMBLE_RECORD = "ensemble.json"
ENSEMBLE_MODELS = "models"
TEACHER_FILE = "teacher_logits_train.npz"
REPORT_RECORD = "report.json"
REPORT_TEXT = "report.md"
EXPORTED_MODEL = "ensemble.keras"

PathLike = str | os.PathLike


class ArtifactError(ValueError):
    """A folder that is not the artifact a step expects (missing, another kind or version)."""


# --- records -----------------------------------------------------------------------------------

def _write_record(folder: PathLike, name: str, kind: str, record: dict[str, Any]) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    body = {"format": {"kind": f"adanas.{kind}", "version": FORMAT_VERSION},
            **{k: v for k, v in record.items() if k != "format"}}
    (out / name).write_text(json.dumps(body, indent=2))


def _read_record(folder: PathLike, name: str, kind: str) -> dict[str, Any]:
    path = Path(folder) / name
    if not path.exists():
        raise ArtifactError(f"{folder}: not an AdaNAS {kind} artifact (no {name}); pass the "
                            f"output of the step that makes it")
    record = json.loads(path.read_text())
    found = record.get("format") or {}
    want = f"adanas.{kind}"
    if found.get("kind") != want:
        raise ArtifactError(f"{path}: expected an {want} artifact, found "
                            f"{found.get('kind') or 'no format stamp'}")
    if found.get("version") != FORMAT_VERSION:
        raise ArtifactError(f"{path}: {want} format version {found.get('version')}, this AdaNAS "
                            f"reads version {FORMAT_VERSION}; rerun the step that wrote it with "
                            f"this version (or run the matching AdaNAS release)")
    return record


def _save_arrays(folder: Path, pattern: str, arrays: dict[str, np.ndarray | None]) -> None:
    for split, arr in arrays.items():
        if arr is not None:
            np.save(folder / pattern.format(split), np.asarray(arr, dtype=np.float32))


def _load_arrays(folder: Path, pattern: str) -> dict[str, np.ndarray]:
    """{split: array} for the splits whose file exists."""
    return {s: np.load(folder / pattern.format(s)) for s in SPLITS
            if (folder / pattern.format(s)).exists()}


# --- dataset -----------------------------------------------------------------------------------

def write_dataset(folder: PathLike, x: dict[str, np.ndarray], y: dict[str, np.ndarray],
                  meta: dict[str, Any]) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        np.savez(out / f"{split}.npz", x=x[split], y=y[split])
    _write_record(out, DATASET_RECORD, "dataset", meta)


def dataset_meta(folder: PathLike) -> dict[str, Any]:
    return _read_record(folder, DATASET_RECORD, "dataset")


def dataset_split(folder: PathLike, split: str, labels_only: bool = False):
    """(x uint8 [N, H, W, C], y int64 [N]) of a split, or y alone."""
    with np.load(Path(folder) / f"{split}.npz") as f:
        return f["y"] if labels_only else (f["x"], f["y"])


# --- candidate ---------------------------------------------------------------------------------

def write_candidate(folder: PathLike, spec: dict[str, Any], metrics: dict[str, Any] | None = None,
                    logits: dict[str, np.ndarray] | None = None,
                    failed: dict[str, Any] | None = None) -> None:
    """The record and cached logits of a trained (or failed) candidate. The model itself is
    saved by the trainer at `candidate_model(folder)`."""
    out = Path(folder)
    _write_record(out, CANDIDATE_RECORD, "candidate",
                  {"spec": spec, **({"metrics": metrics} if metrics is not None else {}),
                   **({"failed": failed} if failed is not None else {})})
    _save_arrays(out, "logits_{}.npy", logits or {})


def read_candidate(folder: PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(record, {split: logits [N, C]}) of a candidate."""
    return _read_record(folder, CANDIDATE_RECORD, "candidate"), _load_arrays(Path(folder), "logits_{}.npy")


def candidate_model(folder: PathLike) -> Path:
    return Path(folder) / MODEL_FILE


# --- ensemble ----------------------------------------------------------------------------------

def write_ensemble(folder: PathLike, record: dict[str, Any], models: dict[str, Path],
                   member_logits: dict[str, np.ndarray | None],
                   pool_logits: dict[str, np.ndarray | None] | None = None,
                   teacher: dict[str, np.ndarray] | None = None) -> None:
    """The ensemble folder. `models` maps each subnetwork's name to its model file, copied in
    so that the folder alone can be exported and continued from."""
    out = Path(folder)
    (out / ENSEMBLE_MODELS).mkdir(parents=True, exist_ok=True)
    for name, source in models.items():
        shutil.copyfile(source, out / ENSEMBLE_MODELS / f"{name}.keras")
    _save_arrays(out, "member_logits_{}.npy", member_logits)
    _save_arrays(out, "pool_logits_{}.npy", pool_logits or {})
    if teacher is not None:
        np.savez(out / TEACHER_FILE, **{k: np.asarray(v, np.float32) for k, v in teacher.items()})
    _write_record(out, ENSEMBLE_RECORD, "ensemble", record)


def ensemble_record(folder: PathLike | None) -> dict[str, Any]:
    """ensemble.json alone (no logits): members and history; empty for f_0 = 0."""
    if folder is None:
        return {"members": [], "history": []}
    return _read_record(folder, ENSEMBLE_RECORD, "ensemble")


def update_ensemble_record(folder: PathLike, **fields: Any) -> None:
    """Adds or replaces top-level keys of an ensemble's record (the step's own output)."""
    record = ensemble_record(folder)
    record.update(fields)
    _write_record(folder, ENSEMBLE_RECORD, "ensemble", record)


def ensemble_logits(folder: PathLike | None, pool: bool = False) -> dict[str, np.ndarray]:
    """{split: [M, N, C]} member (or, with pool=True, pool) logits; empty for f_0 = 0."""
    if folder is None:
        return {}
    return _load_arrays(Path(folder), ("pool" if pool else "member") + "_logits_{}.npy")


def ensemble_model(folder: PathLike, name: str) -> Path:
    """The model file of subnetwork `name` inside the ensemble folder."""
    path = Path(folder) / ENSEMBLE_MODELS / f"{name}.keras"
    if not path.exists():
        raise ArtifactError(f"{folder}: the ensemble carries no model for {name!r}")
    return path


def ensemble_teacher(folder: PathLike, mode: str) -> np.ndarray:
    path = Path(folder) / TEACHER_FILE
    if not path.exists():
        raise ArtifactError(f"{path}: the previous ensemble has no cached training logits; "
                            f"its members were trained without distillation enabled")
    with np.load(path) as f:
        return f[mode]


# --- report and exported model -----------------------------------------------------------------

def write_report(folder: PathLike, report: dict[str, Any], markdown: str) -> None:
    _write_record(folder, REPORT_RECORD, "report", report)
    (Path(folder) / REPORT_TEXT).write_text(markdown)


def read_report(folder: PathLike) -> dict[str, Any]:
    return _read_record(folder, REPORT_RECORD, "report")


def exported_model(folder: PathLike) -> Path:
    return Path(folder) / EXPORTED_MODEL
