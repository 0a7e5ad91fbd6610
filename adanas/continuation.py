"""Continuing a finished search from its last ensemble (`adanas run|submit --warm-start`).

Semantics: a search warm-started from an ensemble whose last iteration is k runs
`search.boosting_iterations` more iterations, numbered k+1, k+2, ...; the generator grows from
the ensemble's last member, and the ensemble's members stay frozen in it. The tasks of the
continued search see `boosting_iterations` = k + 1 + the configured count: the iteration the
whole search has then reached, as if it had been asked for from the start. So a 2-iteration
search extended by 1 plans, seeds (adanas.generators.candidate_seed derives each candidate's
seed from the search seed and the iteration) and selects exactly as a 3-iteration search does.

The ensemble artifact carries its members' model files and cached logits (adanas.artifacts), so
it is all a continued search needs from the first one. What must match, checked before any
compute:

- at the command line (`check_record`, on the ensemble's record): the search space (family and
  builder), the dataset config (name, split fractions, cap; not data_dir), and that the
  continued search can go on at all (early stopping or the parameter budget ended the first
  one: a search that stopped early would stop again at once unless the margin or the budget
  changes; one whose time budget ended it by finishing a tower would stop at once under any
  search.budget; one whose last iteration failed whole; a search.budget that the first search's
  training already spent, since the budget counts it too) and, when distilling, that the
  ensemble carries its teachers;
- inside the pipeline, by every generate step (`check_previous`): the ensemble's dataset
  against the Dataset artifact (classes, image shape, the fingerprint of its arrays), its
  search space, and that its iteration is the one before this step's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from adanas import artifacts
from adanas.budget import PARAMS_STOP, capped, finished as budget_finished, used_seconds
from adanas.config import Config, SearchConfig

# The dataset config keys that decide which images and splits a search sees (not where they
# are read from: data_dir and download may differ between a local run and Vertex AI).
DATASET_KEYS = ("name", "validation_fraction", "test_fraction", "max_examples_per_split")


class ContinuationError(ValueError):
    """An ensemble a search cannot be continued from; the message says what differs."""


@dataclass(frozen=True)
class WarmStart:
    """The ensemble artifact a search continues from."""
    uri: str            # a local ensemble folder or a gs:// URI of one
    iteration: int      # its last iteration; the continued search starts at iteration + 1
    members: int

    @property
    def first_iteration(self) -> int:
        return self.iteration + 1

    @classmethod
    def from_record(cls, uri: str, record: dict[str, Any]) -> "WarmStart":
        if "iteration" not in record:
            raise ContinuationError(f"{uri}: the ensemble record has no iteration")
        return cls(str(uri), int(record["iteration"]), len(record.get("members", [])))


def continued_search(search: SearchConfig, warm: WarmStart | None) -> SearchConfig:
    """The search section the continued search's tasks see (see the module doc)."""
    if warm is None:
        return search
    return dataclasses.replace(search, boosting_iterations=warm.first_iteration + search.boosting_iterations)


def _describe(identity: dict[str, Any]) -> str:
    shape = "x".join(map(str, identity.get("image_shape") or [])) or "?"
    return (f"{identity.get('dataset')} ({identity.get('num_classes')} classes, {shape} images, "
            f"fingerprint {identity.get('fingerprint')})")


def check_search(record: dict[str, Any], search: SearchConfig, where: str) -> None:
    was = record.get("search") or {}
    for key in ("family", "builder"):
        if was.get(key) != getattr(search, key):
            raise ContinuationError(
                f"{where}: the ensemble was searched with search.{key} {was.get(key)!r}, this "
                f"search has {getattr(search, key)!r}; a continued search must keep the search "
                f"space (its members were grown in it)")


def check_record(record: dict[str, Any], cfg: Config, where: str, has_teachers: bool | None = None) -> None:
    """Whether `cfg` may continue from the ensemble whose record this is (command-line checks:
    no data loaded). `has_teachers`: whether the ensemble folder carries cached teacher logits
    (None: not known, e.g. on Cloud Storage)."""
    if "dataset" not in record or "search" not in record:
        raise ContinuationError(
            f"{where}: the ensemble records no dataset identity or search section (written by an "
            f"older AdaNAS); it cannot be checked, so it cannot be continued from: rerun that "
            f"search with this version")
    check_search(record, cfg.search, where)
    was = (record["dataset"].get("config") or {})
    now = dataclasses.asdict(cfg.dataset)
    differ = [k for k in DATASET_KEYS if k in was and was[k] != now[k]]
    if differ:
        raise ContinuationError(
            f"{where}: the ensemble was chosen on another dataset: "
            + ", ".join(f"dataset.{k} was {was[k]!r}, now {now[k]!r}" for k in differ)
            + f" ({_describe(record['dataset'])}); continue it on the same data")
    stopped, history = record.get("stopped") or "", record.get("history") or []
    margin = cfg.search.early_stopping_margin
    if stopped.startswith("early stop") and margin is not None and history \
            and history[-1].get("improvement") is not None and history[-1]["improvement"] < margin:
        raise ContinuationError(
            f"{where}: that search stopped early ({stopped}); with search.early_stopping_margin "
            f"{margin} a continued search would stop at once: lower the margin (or null)")
    old_budget = (record.get("search") or {}).get("max_ensemble_params")
    budget = cfg.search.max_ensemble_params
    # A time budget's rest may have finished a search the parameter budget had ended (capped).
    if (stopped.startswith(PARAMS_STOP) or capped(history)) and budget is not None \
            and (old_budget is None or budget <= old_budget):
        raise ContinuationError(
            f"{where}: that search ended on its parameter budget ({stopped}); raise "
            f"search.max_ensemble_params above {old_budget or budget:,} (or null) to continue it")
    if history and history[-1].get("all_failed"):
        raise ContinuationError(
            f"{where}: that search's iteration {history[-1]['iteration']} failed whole "
            f"({history[-1]['all_failed'][:300]}), so it kept iteration "
            f"{history[-2]['iteration']}'s ensemble and stopped; a continued search would stop at "
            f"once: continue from that iteration's ensemble once the cause is fixed")
    total = cfg.search.budget_seconds()
    spent = used_seconds(history) if total is not None else 0.0
    need = cfg.search.least_budget_left()
    if total is not None and history and total - spent < need:
        raise ContinuationError(
            f"{where}: search.budget {total:g} s counts the training that search already spent "
            f"({spent:.0f} s), which leaves under the {need:g} s its first candidates need: raise "
            f"search.budget to at least {spent + need:.0f} s, or continue without it")
    if history and budget_finished(cfg.search, history):
        raise ContinuationError(
            f"{where}: that search ended on its time budget ({stopped}); its last iteration "
            f"finished a tower with what was left, so a continued search with search.budget would "
            f"stop at once: continue it without search.budget (boosting_iterations then counts "
            f"the iterations), or start a new search with the larger budget")
    kd = cfg.training.knowledge_distillation
    if kd != "none" and getattr(cfg.training, "distillation_teacher", "cached") == "cached" \
            and has_teachers is False:
        raise ContinuationError(
            f"{where}: training.knowledge_distillation {kd!r} with cached teachers needs the "
            f"ensemble's teacher logits ({artifacts.TEACHER_DIR}); that search did not distil: "
            f"use distillation_teacher: live, or no distillation")


def check_dataset(record: dict[str, Any], meta: dict[str, Any], where: str) -> None:
    """The ensemble's dataset against the Dataset artifact this search prepared."""
    was, now = record.get("dataset") or {}, artifacts.dataset_identity(meta)
    for key in ("num_classes", "image_shape", "fingerprint"):
        if was.get(key) is not None and now.get(key) is not None and list(_seq(was[key])) != list(_seq(now[key])):
            raise ContinuationError(
                f"{where}: the ensemble was chosen on {_describe(was)} but this search's dataset "
                f"is {_describe(now)}: its {key} differs; continue it on the same data")


def _seq(value):
    return value if isinstance(value, (list, tuple)) else [value]


def check_previous(search: SearchConfig, iteration: int, previous_dir, dataset_dir) -> None:
    """The generate step's check of the ensemble it grows from (a no-op at iteration 0 and for
    records of older versions, which carry nothing to check)."""
    if previous_dir is None:
        return
    record = artifacts.ensemble_record(previous_dir)
    where = f"iteration {iteration}"
    if "iteration" in record and record["iteration"] + 1 != iteration:
        raise ContinuationError(
            f"{where}: the previous ensemble ends at iteration {record['iteration']}, so the next "
            f"iteration is {record['iteration'] + 1}, not {iteration}")
    if "search" in record:
        check_search(record, search, where)
    if "dataset" in record:
        check_dataset(record, artifacts.dataset_meta(dataset_dir), where)
