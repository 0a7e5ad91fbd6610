"""The on-disk format of every AdaNAS artifact: file names, writers, readers, format version.

Every artifact is a folder that stands alone: a task needs nothing but the artifacts it declares
as inputs, because no artifact points at another one's files (on open-source KFP a task's pod
holds only its own declared inputs; see pipelines/hermetic.py). Each folder's JSON record
carries `format: {kind, version}`; a reader refuses a folder of another kind or version with a
message saying what it found and what to do.

Dataset (prepare step); every split is sharded, so no reader ever holds a whole split
    meta.json                         num_classes, class_names, image_shape, split sizes, the
                                      shards of each split (file, example count), per-channel
                                      pixel statistics, the data checks' report, the
                                      augmentation policy, the source, the dataset config and
                                      a fingerprint (sha256) of the pixels and labels
    {split}-{k:05d}.tfrecord          tf.train.Example {image: PNG (lossless) or raw bytes,
                                      label: int64}, at most `dataset.shard_size` per shard
    {split}-{k:05d}.labels.npy        int64 [n_k]: the shard's labels again, for the steps that
                                      need labels only and no TensorFlow (select, reports)
Candidate (train step)
    candidate.json                    spec and metrics, or spec and `failed` (the error)
    model.keras                       the trained subnetwork for inference (raw images in, logits out)
    logits/{split}-{k:05d}.npy        float32 [n_k, C] per dataset shard, validation and test
                                      (and train, on un-augmented images, with distillation on)
Ensemble (select step)
    ensemble.json                     members (spec, metrics), mixture weights and bias,
                                      per-iteration history, the next iteration's plan or why
                                      the search stops, the `dataset` it was chosen on (its
                                      identity and fingerprint) and the `search` section
                                      (adanas.continuation checks both); `returned`: what the search returns
                                      (the ensemble, part of it, or the best single subnetwork)
                                      and `best_single`: the best subnetwork trained so far;
                                      `to_finish`: the one a budgeted search would finish
                                      (adanas.ensemble.tower_to_finish)
    models/<name>.keras               every subnetwork the ensemble may use: its members, the
                                      returned model's, the best single one and the one to
                                      finish (and, with the caruana ensembler, the whole pool
                                      it picks from)
    {group}_logits/{split}-{k:05d}.npy  float32 [M, n_k, C] per dataset shard: cached logits of
                                      each group of subnetworks: member, returned, best_single,
                                      to_finish, pool (caruana)
    teacher_logits/{mode}-{k:05d}.npy distillation on: float32 [n_k, C] per training shard for
                                      mode adaptive and born_again, the next iteration's teachers
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
    logits/{split}-{k:05d}.npy        the student's validation and test logits, as a candidate's
    student.json                      spec, metrics, temperature, and the side-by-side
                                      comparison with the ensemble (test error, params, CPU
                                      latency per image at batch 1 and 64)
    student.keras, saved_model/       the distilled network, exported as the ensemble is
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

# 2: sharded datasets and per-shard logits (issue 13); 1 held whole splits in .npz / .npy.
FORMAT_VERSION = 2
SPLITS = ("train", "validation", "test")
ENCODINGS = ("png", "raw")
DEFAULT_SHARD_SIZE = 4096

DATASET_RECORD = "meta.json"
CANDIDATE_RECORD = "candidate.json"
MODEL_FILE = "model.keras"
ENSEMBLE_RECORD = "ensemble.json"
ENSEMBLE_MODELS = "models"
TEACHER_DIR = "teacher_logits"
LOGITS_DIR = "logits"
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

# Records are read and written through _open (below): a local folder or a gs:// one alike.

def _stamped(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """`record` stamped with its format (what _checked reads back)."""
    return {"format": {"kind": f"adanas.{kind}", "version": FORMAT_VERSION},
            **{k: v for k, v in record.items() if k != "format"}}


def _write_record(folder: PathLike, name: str, kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """Writes `record` stamped with its format; returns what was written."""
    _makedirs(folder)
    body = _stamped(kind, record)
    with _open(_join(folder, name), "w") as f:
        f.write(json.dumps(body, indent=2))
    return body


def _read_record(folder: PathLike, name: str, kind: str) -> dict[str, Any]:
    path = _join(folder, name)
    if not _exists(path):
        raise ArtifactError(f"{folder}: not an AdaNAS {kind} artifact (no {name}); pass the "
                            f"output of the step that makes it")
    with _open(path, "rb") as f:
        return _parsed(f.read(), path, kind, "rerun the step that wrote it")


def _parsed(text: bytes, path: PathLike, kind: str, fix: str) -> dict[str, Any]:
    """The record in `text`, checked (_checked); a clear ArtifactError where it is not a JSON
    object (cut short, or edited by hand), saying how to `fix` it."""
    try:
        record = json.loads(text)
    except ValueError as e:     # not JSON, or not text
        record, why = None, str(e)
    else:
        why = f"a JSON {type(record).__name__}, not an object"
    if not isinstance(record, dict):
        raise ArtifactError(f"{path}: not a readable {kind} record ({why}): {fix}")
    return _checked(record, path, kind)


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


class Sharded:
    """One split's per-shard arrays (logits [n_k, C] or [M, n_k, C], labels [n_k]), in dataset
    shard order: files read one at a time as they are iterated, or arrays already in memory.
    Iterating again reads again, so a reader holds one shard at a time."""

    def __init__(self, parts: list[PathLike | np.ndarray]):
        self.parts = list(parts)

    def __len__(self) -> int:
        return len(self.parts)

    def __iter__(self) -> Iterator[np.ndarray]:
        for part in self.parts:
            yield part if isinstance(part, np.ndarray) else _load_npy(part)

    def full(self) -> np.ndarray:
        """All shards concatenated along the example axis (the last but one; the only one of
        labels): for small data and tests."""
        arrays = list(self)
        return np.concatenate(arrays, axis=-2 if arrays[0].ndim > 1 else 0)


# Tests set this to run the tf.io.gfile code path (the one gs:// takes) on local folders.
_FORCE_GFILE = False


def _is_local(path: PathLike) -> bool:
    return "://" not in str(path) and not _FORCE_GFILE


def _open(path: PathLike, mode: str):
    """Local files with open(); gs:// (any URI TensorFlow's file systems know) through
    tf.io.gfile, so that a dataset on Cloud Storage reads and writes as a local one."""
    if _is_local(path):
        return open(path, mode)
    import tensorflow as tf
    return tf.io.gfile.GFile(str(path), mode)


def _exists(path: PathLike) -> bool:
    if _is_local(path):
        return Path(path).exists()
    import tensorflow as tf
    return tf.io.gfile.exists(str(path))


def _join(folder: PathLike, *names: str) -> str:
    return "/".join([str(folder).rstrip("/"), *names])


def _makedirs(folder: PathLike) -> None:
    if _is_local(folder):
        Path(folder).mkdir(parents=True, exist_ok=True)
    else:
        import tensorflow as tf
        tf.io.gfile.makedirs(str(folder))


def _save_npy(path: PathLike, arr: np.ndarray) -> None:
    with _open(path, "wb") as f:
        np.save(f, arr)


def _load_npy(path: PathLike) -> np.ndarray:
    with _open(path, "rb") as f:
        return np.load(f)


def _shard_name(split: str, k: int) -> str:
    return f"{split}-{k:05d}"


def _save_shards(folder: Path, sub: str, split: str, parts, dtype=np.float32) -> None:
    """Writes one split's per-shard arrays under folder/sub (an array alone is one shard)."""
    if parts is None:
        return
    (folder / sub).mkdir(parents=True, exist_ok=True)
    if isinstance(parts, np.ndarray):
        parts = [parts]
    for k, arr in enumerate(parts):
        np.save(folder / sub / f"{_shard_name(split, k)}.npy", np.asarray(arr, dtype=dtype))


def _load_shards(folder: Path, sub: str, split: str) -> Sharded | None:
    files = sorted((folder / sub).glob(f"{split}-[0-9][0-9][0-9][0-9][0-9].npy"))
    return Sharded(files) if files else None


def _load_split_shards(folder: Path, sub: str) -> dict[str, Sharded]:
    """{split: Sharded} for the splits written under folder/sub."""
    found = {s: _load_shards(folder, sub, s) for s in SPLITS}
    return {s: v for s, v in found.items() if v is not None}


# --- dataset -----------------------------------------------------------------------------------

@dataclass
class Shard:
    records: str        # the TFRecord file
    labels: str         # the same shard's labels as .npy
    count: int


class DatasetWriter:
    """Writes a Dataset artifact one example at a time, shard by shard (adds to different splits
    may interleave), so the data step never holds a split: per split it keeps a running
    fingerprint, per-channel sums and the open shard's labels.

        with DatasetWriter(folder, shard_size=4096) as writer:
            writer.add("train", image, label)      # uint8 [H, W, C]
            ...
            meta = writer.close(meta)              # writes meta.json
    """

    def __init__(self, folder: PathLike, shard_size: int = DEFAULT_SHARD_SIZE, encoding: str = "png"):
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown encoding {encoding!r}; allowed: {', '.join(ENCODINGS)}")
        self.folder, self.shard_size, self.encoding = str(folder), shard_size, encoding
        self.shards: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
        self.counts = {s: 0 for s in SPLITS}
        self.image_shape: tuple[int, ...] | None = None
        self._writers: dict[str, Any] = {}
        self._labels: dict[str, list[int]] = {s: [] for s in SPLITS}
        self._digest = {s: hashlib.sha256() for s in SPLITS}
        self._sums: dict[str, np.ndarray] = {}
        self._closed = False
        _makedirs(self.folder)

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, *exc) -> None:
        if not self._closed:
            self._finish_shards()

    def add(self, split: str, image: np.ndarray, label: int) -> None:
        import tensorflow as tf
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3:
            raise ValueError(f"images must be uint8 [H, W, C], got {image.dtype} {image.shape}")
        if self.image_shape is None:
            self.image_shape = tuple(image.shape)
        elif image.shape != self.image_shape:
            raise ValueError(f"{split}: image shape {image.shape} differs from the first "
                             f"image's {self.image_shape}")
        if split not in self._writers:
            name = _shard_name(split, len(self.shards[split]))
            self._writers[split] = tf.io.TFRecordWriter(_join(self.folder, f"{name}.tfrecord"))
        encoded = tf.io.encode_png(image).numpy() if self.encoding == "png" else image.tobytes()
        example = tf.train.Example(features=tf.train.Features(feature={
            "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
            "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)]))}))
        self._writers[split].write(example.SerializeToString())
        self._labels[split].append(int(label))
        self._digest[split].update(image.tobytes())
        self._digest[split].update(int(label).to_bytes(8, "little", signed=True))
        pixels = image.reshape(-1, image.shape[-1]).astype(np.float64)
        self._sums[split] = self._sums.get(split, 0) + np.stack([pixels.sum(0), (pixels ** 2).sum(0)])
        self.counts[split] += 1
        if len(self._labels[split]) >= self.shard_size:
            self._finish_shard(split)

    def _finish_shard(self, split: str) -> None:
        self._writers.pop(split).close()
        name = _shard_name(split, len(self.shards[split]))
        _save_npy(_join(self.folder, f"{name}.labels.npy"), np.asarray(self._labels[split], np.int64))
        self.shards[split].append({"records": f"{name}.tfrecord", "labels": f"{name}.labels.npy",
                                   "count": len(self._labels[split])})
        self._labels[split] = []

    def _finish_shards(self) -> None:
        for split in list(self._writers):
            self._finish_shard(split)

    def close(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Finishes the open shards and writes meta.json: `meta` plus the shards, counts,
        per-channel statistics and the fingerprint. Returns the record written."""
        self._finish_shards()
        self._closed = True
        empty = [s for s in SPLITS if not self.counts[s]]
        if empty:
            raise ValueError(f"split(s) {', '.join(empty)} got no examples")
        digest = hashlib.sha256()
        stats = {}
        for split in SPLITS:
            digest.update(f"{split}:{self.counts[split]}:{self.image_shape};".encode())
            digest.update(self._digest[split].digest())
            pixels = self.counts[split] * self.image_shape[0] * self.image_shape[1]
            mean = self._sums[split][0] / pixels
            std = np.sqrt(np.maximum(self._sums[split][1] / pixels - mean ** 2, 0.0))
            stats[split] = {"mean": [round(float(v), 3) for v in mean],
                            "std": [round(float(v), 3) for v in std]}
        record = {**meta,
                  "image_shape": list(self.image_shape),
                  "splits": dict(self.counts),
                  "shards": self.shards,
                  "shard_size": self.shard_size,
                  "encoding": self.encoding,
                  "pixel_stats": stats,
                  # What a continued search checks it is still learning from (adanas.continuation).
                  "fingerprint": digest.hexdigest()[:16]}
        return _write_record(self.folder, DATASET_RECORD, "dataset", record)


def write_dataset(folder: PathLike, x: dict[str, np.ndarray], y: dict[str, np.ndarray],
                  meta: dict[str, Any], shard_size: int = DEFAULT_SHARD_SIZE,
                  encoding: str = "png") -> dict[str, Any]:
    """A Dataset artifact from whole arrays (small data, tests); the data step streams through
    DatasetWriter."""
    with DatasetWriter(folder, shard_size, encoding) as writer:
        for split in SPLITS:
            for image, label in zip(x[split], y[split]):
                writer.add(split, image, int(label))
        return writer.close(meta)


def dataset_identity(meta: dict[str, Any]) -> dict[str, Any]:
    """What an ensemble records of the data it was chosen on (see adanas.continuation)."""
    return {"dataset": meta.get("dataset"), "num_classes": meta.get("num_classes"),
            "image_shape": meta.get("image_shape"), "fingerprint": meta.get("fingerprint"),
            "config": meta.get("config")}


def dataset_meta(folder: PathLike) -> dict[str, Any]:
    return _read_record(folder, DATASET_RECORD, "dataset")


def dataset_shards(folder: PathLike, split: str, meta: dict[str, Any] | None = None) -> list[Shard]:
    """The shards of a split, in order, with full paths."""
    meta = meta or dataset_meta(folder)
    return [Shard(_join(folder, s["records"]), _join(folder, s["labels"]), int(s["count"]))
            for s in meta["shards"][split]]


def dataset_labels(folder: PathLike, split: str, meta: dict[str, Any] | None = None) -> Sharded:
    """A split's labels, shard by shard (NumPy only: no TensorFlow)."""
    return Sharded([s.labels for s in dataset_shards(folder, split, meta)])


def decode_record(serialized, image_shape, encoding: str):
    """(image uint8 [H, W, C], label int64) of one serialized record (TensorFlow ops, for tf.data)."""
    import tensorflow as tf
    parsed = tf.io.parse_single_example(serialized, {
        "image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64)})
    if encoding == "png":
        image = tf.io.decode_png(parsed["image"], channels=int(image_shape[-1]))
    else:
        image = tf.io.decode_raw(parsed["image"], tf.uint8)
    return tf.reshape(image, image_shape), parsed["label"]


def records_dataset(files, meta: dict[str, Any]):
    """tf.data.Dataset of (image uint8, label) of TFRecord `files` (a list, or a tensor inside
    tf.data's interleave), in file order."""
    import tensorflow as tf
    shape, encoding = tuple(meta["image_shape"]), meta.get("encoding", "png")
    return tf.data.TFRecordDataset(files).map(
        lambda r: decode_record(r, shape, encoding), num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True)


def split_dataset(folder: PathLike, split: str, meta: dict[str, Any] | None = None):
    """tf.data.Dataset of (image, label) of a whole split in shard and file order: logits
    predicted from it come out in the order the labels are stored."""
    meta = meta or dataset_meta(folder)
    return records_dataset([s.records for s in dataset_shards(folder, split, meta)], meta)


def dataset_split(folder: PathLike, split: str, labels_only: bool = False):
    """(x uint8 [N, H, W, C], y int64 [N]) of a whole split in memory, or y alone: for small
    data, previews and tests. The steps stream (split_dataset, dataset_labels)."""
    y = dataset_labels(folder, split).full()
    if labels_only:
        return y
    images = [image for image, _ in split_dataset(folder, split).as_numpy_iterator()]
    return np.stack(images).astype(np.uint8), y


# --- candidate ---------------------------------------------------------------------------------

def write_candidate(folder: PathLike, spec: dict[str, Any], metrics: dict[str, Any] | None = None,
                    logits: dict[str, np.ndarray] | None = None,
                    failed: dict[str, Any] | None = None) -> None:
    """The record and cached logits ({split: per-shard arrays, or one array for one shard}) of a
    trained (or failed) candidate. The model itself is saved by the trainer at
    `candidate_model(folder)`."""
    out = Path(folder)
    _write_record(out, CANDIDATE_RECORD, "candidate",
                  {"spec": spec, **({"metrics": metrics} if metrics is not None else {}),
                   **({"failed": failed} if failed is not None else {})})
    write_candidate_logits(out, logits or {})


def write_candidate_logits(folder: PathLike, logits: dict[str, Any]) -> None:
    """A candidate's cached logits: {split: per-shard [n_k, C] arrays (a generator keeps one in
    memory), or one array for one shard}."""
    for split, parts in logits.items():
        _save_shards(Path(folder), LOGITS_DIR, split, parts)


def read_candidate(folder: PathLike) -> tuple[dict[str, Any], dict[str, Sharded]]:
    """(record, {split: logits [n_k, C] shard by shard}) of a candidate."""
    return _read_record(folder, CANDIDATE_RECORD, "candidate"), read_candidate_logits(folder)


def read_candidate_logits(folder: PathLike) -> dict[str, Sharded]:
    """{split: [n_k, C] shard by shard} cached in a candidate's (or the student's) folder."""
    return _load_split_shards(Path(folder), LOGITS_DIR)


def candidate_model(folder: PathLike) -> Path:
    return Path(folder) / MODEL_FILE


# --- ensemble ----------------------------------------------------------------------------------

LOGIT_GROUPS = ("member", "returned", "best_single", "to_finish", "pool")


def write_ensemble(folder: PathLike, record: dict[str, Any], models: dict[str, Path],
                   logits: dict[str, dict[str, Iterable[np.ndarray] | None]],
                   teacher: dict[str, Iterable[np.ndarray]] | None = None) -> None:
    """The ensemble folder. `models` maps each subnetwork's name to its model file, copied in
    so that the folder alone can be exported and continued from; `logits` maps a group
    (LOGIT_GROUPS) to {split: per-shard [M, n_k, C]} (iterated once, so a generator keeps one
    shard in memory); `teacher` maps a mode to per-shard [n_k, C] training logits."""
    out = Path(folder)
    (out / ENSEMBLE_MODELS).mkdir(parents=True, exist_ok=True)
    for name, source in models.items():
        shutil.copyfile(source, out / ENSEMBLE_MODELS / f"{name}.keras")
    for group, arrays in logits.items():
        if group not in LOGIT_GROUPS:
            raise ValueError(f"unknown logits group {group!r}; allowed: {', '.join(LOGIT_GROUPS)}")
        for split, parts in arrays.items():
            _save_shards(out, f"{group}_logits", split, parts)
    for mode, parts in (teacher or {}).items():
        _save_shards(out, TEACHER_DIR, mode, parts)
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


def ensemble_logits(folder: PathLike | None, group: str = "member") -> dict[str, Sharded]:
    """{split: [M, n_k, C] shard by shard} logits of a group of subnetworks (LOGIT_GROUPS);
    empty for f_0 = 0."""
    if folder is None:
        return {}
    return _load_split_shards(Path(folder), f"{group}_logits")


def ensemble_model(folder: PathLike, name: str) -> Path:
    """The model file of subnetwork `name` inside the ensemble folder."""
    path = Path(folder) / ENSEMBLE_MODELS / f"{name}.keras"
    if not path.exists():
        raise ArtifactError(f"{folder}: the ensemble carries no model for {name!r}")
    return path


def ensemble_teacher(folder: PathLike, mode: str) -> Sharded:
    """The cached teacher logits of mode `adaptive` or `born_again`, [n_k, C] per training shard."""
    found = _load_shards(Path(folder), TEACHER_DIR, mode)
    if found is None:
        raise ArtifactError(f"{folder}: the previous ensemble has no cached training logits; "
                            f"its members were trained without distillation enabled")
    return found


def has_teacher(folder: PathLike) -> bool:
    return (Path(folder) / TEACHER_DIR).is_dir()


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
    # Rewritten after every task while `adanas runs` may read it or the run be killed: written
    # to a file of its own first, then renamed over the record, so no one sees half of it.
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    body = _stamped("run", record)
    # One name per writer (a run's tasks end on threads of their own).
    tmp = folder / f".{RUN_RECORD}.{os.getpid()}-{threading.get_ident()}.tmp"
    try:
        tmp.write_text(json.dumps(body, indent=2))
        os.replace(tmp, folder / RUN_RECORD)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_run_record(folder: PathLike) -> dict[str, Any]:
    path = Path(folder) / RUN_RECORD
    if not path.is_file():
        raise ArtifactError(f"{folder}: not a local run folder (no {RUN_RECORD}); pass the folder "
                            f"of an `adanas run`, or its name under the pipeline root")
    return _parsed(path.read_bytes(), path, "run",
                   "fix the file, or move the run's folder out of the pipeline root")


def update_run_record(folder: PathLike, **fields: Any) -> dict[str, Any]:
    record = {**read_run_record(folder), **fields}
    write_run_record(folder, record)
    return record


def is_run_folder(folder: PathLike) -> bool:
    return (Path(folder) / RUN_RECORD).is_file()


def run_folders(pipeline_root: PathLike) -> list[Path]:
    """The local runs under a pipeline root, oldest first (by their start; kfp.local's
    timestamped names break ties)."""
    root = Path(pipeline_root)
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if is_run_folder(p)), key=_run_started)


def _run_started(folder: Path) -> tuple[str, str]:
    try:
        started = read_run_record(folder).get("started")
    except (ArtifactError, OSError):
        started = None
    if not isinstance(started, str):
        # A record that cannot be read (or has no start) still lists, `adanas runs` saying
        # why: by when it was last written, in the format of `started`.
        try:
            mtime = (folder / RUN_RECORD).stat().st_mtime
        except OSError:
            return "", folder.name
        started = datetime.datetime.fromtimestamp(mtime).isoformat(timespec="seconds")
    return started, folder.name


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
