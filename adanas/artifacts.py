"""The on-disk format of every AdaNAS artifact: file names, writers, readers, format version.

Every artifact is a folder that stands alone: a task needs nothing but the artifacts it declares
as inputs, because no artifact points at another one's files (on open-source KFP a task's pod
holds only its own declared inputs; see pipelines/hermetic.py). Each folder's JSON record
carries `format: {kind, version}`; a reader refuses a folder of another kind or version with a
message saying what it found and what to do.

Dataset (prepare step)
    meta.json                         num_classes, class_names, image_shape, split sizes, the
                                      augmentation policy, the source, the dataset config and
                                      a fingerprint (sha256) of the arrays
    train.npz, validation.npz, test.npz   x: uint8 [N, H, W, C] raw pixels, y: int64 [N]
Candidate (train step)
    candidate.json                    spec and metrics, or spec and `failed` (the error)
    model.keras                       the trained subnetwork for inference (raw images in, logits out)
    logits_{validation,test}.npy      float32 [N, C], cached for selection and reports
    logits_train.npy                  float32 [N, C] on un-augmented training images (distillation on)
Ensemble (select step)
    ensemble.json                     members (spec, metrics), mixture weights and bias,
                                      per-iteration history, the next iteration's plan or why
                                      the search stops, the `dataset` it was chosen on (its
                                      identity and fingerprint) and the `search` section
                                      (adanas.continuation checks both); `returned`: what the search returns
                                      (the ensemble, part of it, or the best single subnetwork)
                                      and `best_single`: the best subnetwork trained so far
    models/<name>.keras               every subnetwork the ensemble may use: its members, the
                                      returned model's and the best single one (and, with the
                                      caruana ensembler, the whole pool it picks from)
    {group}_logits_{split}.npy        float32 [M, N, C] cached logits of each group of
                                      subnetworks: member, returned, best_single, pool (caruana)
    teacher_logits_train.npz          distillation on: {"adaptive", "born_again"} [N, C], the
                                      next iteration's teachers
Report (evaluate step)
    report.json, report.md
    report.html                       the report as one self-contained page (figures embedded)
Data preview (prepare step, an HTML output of its own)
    one self-contained HTML file      training images per class, raw and augmented
Exported model (evaluate step)
    ensemble.keras                    raw images in, combined logits out; standard Keras layers
    saved_model/                      TensorFlow SavedModel for TF Serving / Vertex AI: uint8
                                      images or encoded image bytes in, calibrated probabilities,
                                      class names and the top class out (adanas.serving)
Local run (pipelines/local_run.py; not an artifact: the folder of one `adanas run`)
    adanas-run.json                   the config, how it ran (caching, hermetic, warm start,
                                      resumed run), its state, the final ensemble, a summary
Student (distill step)
    student.json                      spec, metrics, temperature, and the side-by-side
                                      comparison with the ensemble (test error, params, CPU
                                      latency per image at batch 1 and 64)
    student.keras, saved_model/       the distilled network, exported as the ensemble is
"""

from __future__ import annotations

import hashlib
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
REPORT_HTML = "report.html"
EXPORTED_MODEL = "ensemble.keras"
SAVED_MODEL = "saved_model"
STUDENT_RECORD = "student.json"
STUDENT_MODEL = "student.keras"

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
    return _checked(json.loads(path.read_text()), path, kind)


def _checked(record: dict[str, Any], path: PathLike, kind: str) -> dict[str, Any]:
    """`record` if its format stamp is this version's `kind`, else a clear ArtifactError."""
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
    # What a continued search checks it is still learning from (adanas.continuation).
    meta = {**meta, "fingerprint": meta.get("fingerprint") or dataset_fingerprint(x, y)}
    _write_record(out, DATASET_RECORD, "dataset", meta)


def dataset_fingerprint(x: dict[str, np.ndarray], y: dict[str, np.ndarray]) -> str:
    """sha256 (first 16 hex digits) of every split's pixels and labels, shapes and dtypes."""
    digest = hashlib.sha256()
    for split in SPLITS:
        for arr in (np.ascontiguousarray(x[split]), np.ascontiguousarray(y[split])):
            digest.update(f"{split}:{arr.dtype.str}:{arr.shape};".encode())
            digest.update(arr.tobytes())
    return digest.hexdigest()[:16]


def dataset_identity(meta: dict[str, Any]) -> dict[str, Any]:
    """What an ensemble records of the data it was chosen on (see adanas.continuation)."""
    return {"dataset": meta.get("dataset"), "num_classes": meta.get("num_classes"),
            "image_shape": meta.get("image_shape"), "fingerprint": meta.get("fingerprint"),
            "config": meta.get("config")}


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

LOGIT_GROUPS = ("member", "returned", "best_single", "pool")


def write_ensemble(folder: PathLike, record: dict[str, Any], models: dict[str, Path],
                   logits: dict[str, dict[str, np.ndarray | None]],
                   teacher: dict[str, np.ndarray] | None = None) -> None:
    """The ensemble folder. `models` maps each subnetwork's name to its model file, copied in
    so that the folder alone can be exported and continued from; `logits` maps a group
    (LOGIT_GROUPS) to {split: [M, N, C]}."""
    out = Path(folder)
    (out / ENSEMBLE_MODELS).mkdir(parents=True, exist_ok=True)
    for name, source in models.items():
        shutil.copyfile(source, out / ENSEMBLE_MODELS / f"{name}.keras")
    for group, arrays in logits.items():
        if group not in LOGIT_GROUPS:
            raise ValueError(f"unknown logits group {group!r}; allowed: {', '.join(LOGIT_GROUPS)}")
        _save_arrays(out, group + "_logits_{}.npy", arrays)
    if teacher is not None:
        np.savez(out / TEACHER_FILE, **{k: np.asarray(v, np.float32) for k, v in teacher.items()})
    _write_record(out, ENSEMBLE_RECORD, "ensemble", record)


def ensemble_record(folder: PathLike | None) -> dict[str, Any]:
    """ensemble.json alone (no logits): members and history; empty for f_0 = 0."""
    if folder is None:
        return {"members": [], "history": []}
    return _read_record(folder, ENSEMBLE_RECORD, "ensemble")


def ensemble_record_from_text(text: str, where: str) -> dict[str, Any]:
    """An ensemble.json read elsewhere (from Cloud Storage: --warm-start gs://...), checked as
    `ensemble_record` checks a local one."""
    return _checked(json.loads(text), where, "ensemble")


def update_ensemble_record(folder: PathLike, **fields: Any) -> None:
    """Adds or replaces top-level keys of an ensemble's record (the step's own output)."""
    record = ensemble_record(folder)
    record.update(fields)
    _write_record(folder, ENSEMBLE_RECORD, "ensemble", record)


def ensemble_logits(folder: PathLike | None, group: str = "member") -> dict[str, np.ndarray]:
    """{split: [M, N, C]} logits of a group of subnetworks (LOGIT_GROUPS); empty for f_0 = 0."""
    if folder is None:
        return {}
    return _load_arrays(Path(folder), group + "_logits_{}.npy")


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

def write_report(folder: PathLike, report: dict[str, Any], markdown: str,
                 page: str | None = None) -> None:
    _write_record(folder, REPORT_RECORD, "report", report)
    (Path(folder) / REPORT_TEXT).write_text(markdown)
    if page is not None:
        (Path(folder) / REPORT_HTML).write_text(page)


def write_page(path: PathLike, text: str) -> Path:
    """A file output of its own (a KFP Markdown or HTML artifact is one file at its path)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out


def read_report(folder: PathLike) -> dict[str, Any]:
    return _read_record(folder, REPORT_RECORD, "report")


def extend_report(source: PathLike, folder: PathLike, fields: dict[str, Any],
                  markdown: str) -> dict[str, Any]:
    """A copy of the report at `source` (every file of it) with `fields` added to its record
    and `markdown` appended to report.md, written to `folder`. Returns the new record."""
    shutil.copytree(source, folder, dirs_exist_ok=True)
    record = {**read_report(source), **fields}
    text = (Path(source) / REPORT_TEXT).read_text().rstrip("\n") + "\n\n" + markdown + "\n"
    write_report(folder, record, text)
    return record


def exported_model(folder: PathLike) -> Path:
    return Path(folder) / EXPORTED_MODEL


def saved_model_dir(folder: PathLike) -> Path:
    """The SavedModel folder inside an exported model (or student) artifact."""
    return Path(folder) / SAVED_MODEL


# --- student -----------------------------------------------------------------------------------

def write_student(folder: PathLike, record: dict[str, Any]) -> None:
    """student.json; the model files are saved by the distill step at student_model() and
    saved_model_dir()."""
    _write_record(folder, STUDENT_RECORD, "student", record)


def read_student(folder: PathLike) -> dict[str, Any]:
    return _read_record(folder, STUDENT_RECORD, "student")


def student_model(folder: PathLike) -> Path:
    return Path(folder) / STUDENT_MODEL


# --- local runs: what `adanas runs`, `compare`, `--resume` and `--warm-start` read ---------------

RUN_RECORD = "adanas-run.json"


def write_run_record(folder: PathLike, record: dict[str, Any]) -> None:
    """adanas-run.json in a local run's folder ({pipeline root}/{run name}): the config it ran,
    how (caching, hermetic, warm start, resumed run), its state, and at the end its summary."""
    _write_record(folder, RUN_RECORD, "run", record)


def read_run_record(folder: PathLike) -> dict[str, Any]:
    return _read_record(folder, RUN_RECORD, "run")


def update_run_record(folder: PathLike, **fields: Any) -> dict[str, Any]:
    record = {**read_run_record(folder), **fields}
    write_run_record(folder, record)
    return record


def is_run_folder(folder: PathLike) -> bool:
    return (Path(folder) / RUN_RECORD).is_file()


def run_folders(pipeline_root: PathLike) -> list[Path]:
    """The local runs under a pipeline root, oldest first (by name: kfp.local's timestamps)."""
    root = Path(pipeline_root)
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if is_run_folder(p)),
                  key=lambda p: (read_run_record(p).get("started", ""), p.name))


def is_ensemble(folder: PathLike) -> bool:
    return (Path(folder) / ENSEMBLE_RECORD).is_file()


def last_ensemble(folder: PathLike) -> Path:
    """The ensemble artifact of the highest iteration in a folder and its subfolders (a run's
    folder), or the folder itself if it is one."""
    folder = Path(folder)
    if is_ensemble(folder):
        return folder
    found = [p.parent for p in folder.rglob(ENSEMBLE_RECORD)]
    if not found:
        raise ArtifactError(f"{folder}: no ensemble artifact ({ENSEMBLE_RECORD}) in it or below")
    return max(found, key=lambda p: (ensemble_record(p).get("iteration", -1), str(p)))
