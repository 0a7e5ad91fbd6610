"""Control over a long search, without running one: the cost estimate and --max-cost, warm-start
and resume checks, the hermetic runner keeping a killed task's outputs, an interrupted training
resuming to the same weights, `adanas runs` / `compare`, and what a Vertex AI Experiment shows."""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import yaml

from adanas import artifacts, checkpoints, config, continuation, cost, generators
from adanas.continuation import ContinuationError, WarmStart
from pipelines import cli, hermetic, local_runs, long_search
from pipelines.adanas_pipeline import compile_pipeline
from conftest import ROOT, Killed, killing_after_epoch, tiny_config_dict, write_dataset
from test_vertex_submit import JOB_ID, PROJECT, REGISTRY, _all_tasks, _cached, _submit, standin  # noqa: F401

PAPER = ROOT / "pipelines" / "configs" / "paper"
P100 = ["resources.train.accelerator_type=NVIDIA_TESLA_P100"]


def _estimate(name, overrides=()):
    return cost.estimate(config.load_config(PAPER / name, [*P100, *overrides]))


# --- cost ----------------------------------------------------------------------------------------

def test_one_nasnet_training_is_the_36_gpu_hours_its_config_states():
    """nasnet_6x768_single_*: "one 1M-step training, about 36 GPU-hours (P100)". The P100
    throughput figure comes from this very statement, so what this checks is the rest: steps
    (1M rounded up to whole epochs of 45,000 // 32 images, as adanas.train runs them), batch,
    one task per candidate. Tolerance 0.5%: the rounding to whole epochs adds 0.1%."""
    for name in ("nasnet_6x768_single_cifar10.yaml", "nasnet_6x768_single_cifar100.yaml"):
        est = _estimate(name)
        assert est.steps == 1_001_072 and est.batch == 32
        assert [len(it.archs) for it in est.iterations] == [1]
        assert est.accelerator_hours == pytest.approx(36.0, rel=0.005)
        assert est.tasks == 1 + 1 + 1 + 2    # generate, train, select; prepare, evaluate


def test_ten_tower_ensemble_is_ten_trainings_of_36_gpu_hours():
    """ensemble_10x_*: "10 trainings of ~36 GPU-hours, ~1.2k GPU-hours in the slides (10 GPUs x
    5 days)". The first statement holds within 0.5% (same rounding as above). The slides' figure
    does not: ours is 0.30x of it. Our pipeline trains each tower once against cached logits; the
    slides' total is a wall-clock reservation of the original implementation, which also ran
    every frozen member in each later training step; nothing in our cost model can reach it, so
    the test only holds the estimate below it."""
    est = _estimate("ensemble_10x_nasnet_6x768_cifar10.yaml")
    assert [it.archs for it in est.iterations] == [["nasnet(6@768)"]] * 10
    assert est.accelerator_hours == pytest.approx(10 * 36.0, rel=0.005)
    assert est.accelerator_hours < 10 * 5 * 24
    # Iterations run one after another: wall-clock is the sum of the trainings.
    assert est.wall_hours == pytest.approx(est.accelerator_hours, rel=0.02)


def test_growing_search_is_two_1m_step_candidates_per_iteration_within_its_budget():
    """adanas_gd_*: "10 iterations x 2 candidates of 1M steps, ~1.6k GPU-hours in the slides
    (10 GPUs x 7 days)". Holds: 2 candidates of 1,001,072 steps each iteration. Ours differs in
    two ways the comment leaves out, both from the config itself: grown towers cost more per
    step (N+1 cells: x1.08; F+240: x1.72), and the 34M parameter budget stops the growth after 7
    iterations (when the first proposal, `deeper`, is kept each time). So the total is compared
    with the comment's 20 x 36 = 720 with 25% tolerance (it lands at +12%), and held below the
    slides' 1,680 (see the ten-tower test)."""
    est = _estimate("adanas_gd_cifar10.yaml")
    assert all(len(it.archs) == 2 for it in est.iterations)
    assert est.iterations[0].archs == ["nasnet(6@768)", "nasnet(7@768)"]
    base, deeper = est.iterations[0].train_hours
    assert base == pytest.approx(36.0, rel=0.005)
    assert deeper / base == pytest.approx((0.467 * 7 + 2.872) / (0.467 * 6 + 2.872))
    assert len(est.iterations) == 7 and est.stopped.startswith("budget")
    assert est.accelerator_hours == pytest.approx(720, rel=0.25)
    assert est.accelerator_hours < 10 * 7 * 24
    # Two candidates train side by side: wall-clock is the slower of each pair.
    assert est.wall_hours == pytest.approx(sum(max(it.train_hours) for it in est.iterations), rel=0.01)
    assert est.wall_hours < 0.7 * est.accelerator_hours


def test_a_live_distillation_teacher_costs_a_forward_pass_per_member_and_step():
    """adanas_learned_adaptive_*: "Compute as adanas_gd". True of cached teachers; the live
    (paper's) teacher runs the whole ensemble forward in each step: a third of a step per member."""
    gd = _estimate("adanas_gd_cifar10.yaml")
    cached = _estimate("adanas_learned_adaptive_cifar10.yaml", ["training.distillation_teacher=cached"])
    live = _estimate("adanas_learned_adaptive_cifar10.yaml", ["training.distillation_teacher=live"])
    assert cached.accelerator_hours == pytest.approx(gd.accelerator_hours)
    assert live.iterations[0].train_hours == pytest.approx(gd.iterations[0].train_hours)  # no teacher yet
    # Iteration 1 distils from the one member kept at iteration 0, NASNet(6@768).
    extra = live.iterations[1].train_hours[0] - gd.iterations[1].train_hours[0]
    assert extra == pytest.approx(36.0 / 3, rel=0.01)
    assert live.accelerator_hours > 1.5 * gd.accelerator_hours


def test_digits_estimate_counts_the_tasks_a_run_has():
    """The default config runs 14 tasks (BENCHMARKS.md, measured); its candidates train 8 epochs
    of 1,258 // 32 steps."""
    est = cost.estimate(config.load_config(ROOT / "pipelines" / "configs" / "digits.yaml"))
    assert est.tasks == 14 and est.steps == 8 * (1258 // 32) and est.accelerator_hours == 0
    assert est.price is not None and est.price < 1.0


def test_config_overrides_of_throughput_and_prices():
    base = _estimate("nasnet_6x768_single_cifar10.yaml")
    faster = _estimate("nasnet_6x768_single_cifar10.yaml", ["cost.images_per_second=494.0"])
    assert faster.accelerator_hours == pytest.approx(base.accelerator_hours * 247.0 / 494.0, rel=0.01)
    assert any("cost.images_per_second" in a for a in faster.assumptions)
    dearer = _estimate("nasnet_6x768_single_cifar10.yaml", ["cost.prices={NVIDIA_TESLA_P100: 10.0}"])
    assert dearer.price - base.price == pytest.approx(base.accelerator_hours * (10.0 - cost.ACCELERATOR_PRICES["NVIDIA_TESLA_P100"]), rel=1e-6)
    with pytest.raises(config.ConfigError, match="cost.prices.NVIDIA_GTX: unknown price key"):
        config.from_dict({"cost": {"prices": {"NVIDIA_GTX": 1.0}}})
    with pytest.raises(config.ConfigError, match="cost.images_per_second: must be > 0"):
        config.from_dict({"cost": {"images_per_second": 0}})
    # No figure for a family on a device: the error names the key that supplies one.
    with pytest.raises(cost.EstimateError, match="cost.images_per_second"):
        cost.estimate(config.from_dict({"search": {"family": "dnn"}}))
    unknown = cost.estimate(config.from_dict({"resources": {"train": {
        "accelerator_type": "NVIDIA_H200_141GB", "accelerator_count": 1}},
        "search": {"family": "nasnet", "generator": "simple",
                   "architecture": {"cells_per_stack": 2, "penultimate_filters": 48}},
        "dataset": {"name": "cifar10"}, "training": {"train_epochs": 1}}))
    assert unknown.price is None and any("cost.prices.NVIDIA_H200_141GB" in a for a in unknown.assumptions)


def test_a_budgeted_estimate_plans_the_shares_and_spends_the_budget():
    """With search.budget the tasks train for their shares by the clock, not for epochs: G_D
    (without its parameter budget, which would end the growing first) with 100 P100-hours (the
    P100 these tests set)
    explores 9 iterations of 2 candidates on 0.2 of it, 4,000 s each, and the tenth trains the
    kept tower on with the other 80 hours; steps follow from the throughput. Two GPUs per task
    halve the wall-clock, not the accelerator-hours the budget counts."""
    free = ["search.max_ensemble_params=null"]
    plain = _estimate("adanas_gd_cifar10.yaml", free)
    est = _estimate("adanas_gd_cifar10.yaml", [*free, "search.budget=100"])
    assert est.budget_seconds == 100 * 3600
    assert [len(it.archs) for it in est.iterations] == [2] * 9 + [1]
    assert [it.finishes for it in est.iterations] == [False] * 9 + [True]
    assert est.iterations[-1].archs == [est.iterations[-2].kept]
    assert est.iterations[0].train_hours == pytest.approx([0.2 * 100 / 18] * 2)
    assert est.iterations[-1].train_hours == pytest.approx([80.0])
    assert est.accelerator_hours == pytest.approx(100.0)
    # The base tower's images/s, from the unbudgeted estimate's 1M steps of batch 32.
    ips = plain.steps * 32 / (plain.iterations[0].train_hours[0] * 3600)
    assert est.iterations[0].steps[0] == pytest.approx(4000 * ips / 32, abs=1)
    assert est.stopped.startswith("budget: 360000 s of 360000 s used")
    two = _estimate("adanas_gd_cifar10.yaml", [*free, "search.budget=100", "resources.train.accelerator_count=2"])
    assert two.accelerator_hours == pytest.approx(100.0)
    assert two.wall_hours == pytest.approx(est.wall_hours - (sum(max(it.train_hours) for it in est.iterations) / 2), rel=1e-6)
    # On CPU the budget counts task-hours: the default config's training tasks sum to it.
    cpu = cost.estimate(config.load_config(ROOT / "pipelines" / "configs" / "digits.yaml", ["search.budget=120s"]))
    assert sum(sum(it.train_hours) for it in cpu.iterations) == pytest.approx(120 / 3600)
    assert cpu.accelerator_hours == 0 and cpu.iterations[-1].finishes
    text = cost.format_estimate(cpu)
    assert "within search.budget" in text and "(trained on)" in text and "steps per task" in text
    assert "The plan spends 0.03 h of search.budget's 0.03 h." in text


def test_a_budget_the_parameter_budget_cuts_short_still_finishes_where_the_tower_fits():
    """The growing ends on max_ensemble_params after iteration 0; the rest of the time trains
    the kept tower on (adanas.generators.plan), where it fits the parameter budget."""
    cfg = config.load_config(ROOT / "pipelines" / "configs" / "digits.yaml",
                             ["search.budget=120s", "search.max_ensemble_params=9000"])
    est = cost.estimate(cfg)
    assert [it.finishes for it in est.iterations] == [False, True]
    assert est.iterations[1].archs == [est.iterations[0].kept]
    assert sum(sum(it.train_hours) for it in est.iterations) == pytest.approx(120 / 3600)


def test_a_budgeted_estimate_of_a_continued_search_counts_what_the_first_spent():
    """A warm start goes on from the ensemble's history and numbering, as its tasks do
    (adanas.continuation.continued_search): with 120 s, 30 s already spent at iteration 0 and 3
    more iterations, the tasks see 4 iterations, so exploring shares are 0.2 x 120 / (3 x 2) =
    4 s, raised to the 5 s floor; iterations 1 and 2 explore and 3 finishes with the
    120 - 30 - 20 = 70 s left."""
    cfg = config.load_config(ROOT / "pipelines" / "configs" / "digits.yaml", ["search.budget=120s"])
    spec = generators.propose(cfg.search, cfg.seed, 0, None)[0]
    record = {"iteration": 0, "members": [{"spec": spec, "metrics": {"params": 4250}}],
              "history": [{"iteration": 0, "candidates": [
                  {"move": "base", "task_seconds": 15.0, "train_seconds": 14.0}] * 2}]}
    est = cost.estimate(cfg, record)
    assert [it.iteration for it in est.iterations] == [1, 2, 3]
    assert [h for it in est.iterations[:2] for h in it.train_hours] == pytest.approx([5 / 3600] * 4)
    assert est.iterations[2].finishes and est.iterations[2].train_hours == pytest.approx([70 / 3600])
    assert est.iterations[2].archs == [est.iterations[1].kept]


def test_estimate_command_prints_iterations_totals_and_assumptions(capsys):
    assert cli.main(["estimate", "--config", str(PAPER / "adanas_gd_cifar10.yaml")]) == 0
    out = capsys.readouterr().out
    assert "| iter | train tasks |" in out and "Total: 30 tasks" in out
    assert "NVIDIA_TESLA_A100-hours" in out and "Assumptions:" in out
    assert "Macko et al. 2019" in out and "as of 2025-06" in out


def test_submit_prints_the_estimate_and_refuses_above_max_cost_before_any_request(tmp_path, standin, capsys):
    args = ["--config", str(PAPER / "adanas_gd_cifar10.yaml"), "--set", f"image={REGISTRY}",
            "--output", str(tmp_path / "p.yaml")]
    assert _submit(standin, *args, "--max-cost", "100") == 2
    captured = capsys.readouterr()
    assert "Estimated cost of paper-adanas-gd-cifar10: ~$" in captured.out
    assert "refused: the estimated price of paper-adanas-gd-cifar10" in captured.err
    assert "is above --max-cost $100; nothing was submitted" in captured.err
    assert standin.requests == [] and not (tmp_path / "p.yaml").exists()
    # Under the limit it goes out, after the same line.
    assert _submit(standin, *args, "--max-cost", "100000") == 0
    assert "Estimated cost of paper-adanas-gd-cifar10" in capsys.readouterr().out
    assert [r["method"] for r in standin.requests].count("POST") == 1
    # With search.budget the price is the budget's: 10 A100-hours go under $100 (without the
    # parameter budget, which would end the growing after 1.6 of them).
    budgeted = [*args, "--set", "search.budget=10", "--set", "search.max_ensemble_params=null"]
    assert _submit(standin, *budgeted, "--max-cost", "100") == 0
    assert "10.0 NVIDIA_TESLA_A100-hours, 10.0 h of search.budget's 10.0 h planned" in capsys.readouterr().out
    assert _submit(standin, *budgeted[:-2], "--max-cost", "100") == 0
    assert "1.6 h of search.budget's 10.0 h planned" in capsys.readouterr().out


def test_max_cost_needs_a_config_not_a_template(tmp_path, standin, capsys):
    template = compile_pipeline(config.load_config(PAPER / "adanas_gd_cifar10.yaml", [f"image={REGISTRY}"]),
                                tmp_path / "p.yaml")
    assert _submit(standin, "--template", str(template), "--max-cost", "10") == 2
    assert "--max-cost and --warm-start need the search config" in capsys.readouterr().err
    assert standin.requests == []


@pytest.mark.parametrize("flags, named", [
    (["--set", "seed=2"], "drop --set"),
    (["--output", "elsewhere.yaml"], "drop --output"),
    (["--config", str(PAPER / "adanas_gd_cifar10.yaml")], "drop --config"),
])
def test_a_template_refuses_the_options_that_only_compiling_reads(flags, named, tmp_path, standin, capsys):
    template = compile_pipeline(config.load_config(PAPER / "adanas_gd_cifar10.yaml", [f"image={REGISTRY}"]),
                                tmp_path / "p.yaml")
    assert _submit(standin, "--template", str(template), *flags) == 2
    err = capsys.readouterr().err
    assert "--template submits a pipeline compiled already" in err and named in err
    assert standin.requests == []


def test_rerunning_the_same_submit_lets_vertex_reuse_every_finished_task(tmp_path, standin):
    """Resuming on Vertex AI = the same submit again: the same pipeline spec (content-hashed
    images, constant task inputs), each task cacheable except evaluate. Vertex AI's cache then
    reuses every task whose inputs and spec are unchanged."""
    args = ["--config", str(PAPER / "adanas_gd_cifar10.yaml"), "--set", f"image={REGISTRY}",
            "--set", "search.boosting_iterations=2", "--output", str(tmp_path / "p.yaml")]
    assert _submit(standin, *args) == 0
    assert _submit(standin, *args) == 0
    first, second = [r["body"]["pipelineSpec"] for r in standin.requests if r["method"] == "POST"]
    assert first == second
    tasks = {n: t for n, t in _all_tasks(first).items() if not n.startswith(("condition", "for-loop"))}
    assert {n for n, t in tasks.items() if not _cached(t)} == {n for n in tasks if n.startswith("evaluate-ensemble")}
    assert len(tasks) == 1 + 2 * 3 + 2    # prepare, 2 x (generate, train, select), 2 evaluate


# --- warm start ------------------------------------------------------------------------------------

def _ensemble(folder: Path, cfg, dataset_dir: Path, iteration=1, stopped="done: 2 iterations",
              improvement=0.1, family="cnn"):
    spec = {"name": f"i{iteration}_c0", "family": family, "arch": {"num_layers": 2, "filters": 4},
            "arch_str": "cnn(2@4)", "iteration": iteration, "seed": 1}
    record = {"iteration": iteration, "members": [{"spec": spec, "metrics": {"params": 100}}],
              "history": [{"iteration": iteration, "improvement": improvement}], "stopped": stopped,
              "dataset": artifacts.dataset_identity(artifacts.dataset_meta(dataset_dir)),
              "search": {**json.loads(config.section_json(cfg, "search")), "family": family}}
    artifacts.write_ensemble(folder, record, {}, {})
    return folder


@pytest.fixture
def tiny_dataset(tmp_path):
    """A Dataset artifact as the prepare step of the tiny config writes it (its config recorded)."""
    cfg = config.from_dict(tiny_config_dict())
    ys = {"train": [0, 1, 2, 0], "validation": [0, 1, 2], "test": [1, 2, 0]}
    folder = tmp_path / "dataset"
    artifacts.write_dataset(folder, {s: np.zeros((len(y), 2, 2, 1), np.uint8) for s, y in ys.items()},
                            {s: np.asarray(y) for s, y in ys.items()},
                            {"dataset": "digits", "num_classes": 3, "image_shape": [2, 2, 1],
                             "config": json.loads(config.section_json(cfg, "dataset"))})
    return cfg, folder


def test_continued_search_numbers_iterations_on_and_sees_the_total():
    search = config.from_dict(tiny_config_dict(boosting_iterations=1)).search
    warm = WarmStart("x", iteration=1, members=2)
    assert warm.first_iteration == 2
    # A 2-iteration search extended by 1 plans as a 3-iteration search: the same search section.
    assert continuation.continued_search(search, warm) == config.from_dict(tiny_config_dict(boosting_iterations=3)).search
    # Candidate seeds follow the iteration, not the run: the same at iteration 2 either way.
    assert generators.candidate_seed(1, 2, 0) != generators.candidate_seed(1, 0, 0)


def test_warm_start_mismatches_are_refused_with_what_differs(tmp_path, tiny_dataset):
    cfg, data = tiny_dataset
    good = artifacts.ensemble_record(_ensemble(tmp_path / "ens", cfg, data))
    continuation.check_record(good, cfg, "E", has_teachers=False)
    other_data = config.from_dict({**tiny_config_dict(), "dataset": {"name": "digits", "max_examples_per_split": 60}})
    with pytest.raises(ContinuationError, match="dataset.max_examples_per_split was 120, now 60"):
        continuation.check_record(good, other_data, "E")
    other_space = config.from_dict(tiny_config_dict(family="dnn", architecture={}))
    with pytest.raises(ContinuationError, match="search.family 'cnn', this search has 'dnn'"):
        continuation.check_record(good, other_space, "E")
    stopped = artifacts.ensemble_record(_ensemble(tmp_path / "early", cfg, data, stopped="early stop: x",
                                                  improvement=0.001))
    with pytest.raises(ContinuationError, match="would stop at once"):
        continuation.check_record(stopped, config.from_dict(tiny_config_dict(early_stopping_margin=0.01)), "E")
    budget = {**good, "stopped": "budget: the ensemble has 480 params and no candidate fits in 500",
              "search": {**good["search"], "max_ensemble_params": 500}}
    with pytest.raises(ContinuationError, match="raise search.max_ensemble_params above 500"):
        continuation.check_record(budget, config.from_dict(tiny_config_dict(max_ensemble_params=500)), "E")
    # A search that ended on its time budget is not one that ended on its parameter budget.
    timed_out = {**budget, "stopped": "budget: 45 s of 45 s used; the best tower was trained on with the rest",
                 "history": [*budget["history"][:-1], {**budget["history"][-1], "candidates": [
                     {"move": "continue", "task_seconds": 45.0, "train_seconds": 44.0}]}]}
    continuation.check_record(timed_out, config.from_dict(tiny_config_dict(max_ensemble_params=500)), "E",
                              has_teachers=False)
    # Continued with a time budget again, it would stop at once (its last iteration finished).
    with pytest.raises(ContinuationError, match="continue it without search.budget"):
        continuation.check_record(timed_out, config.from_dict(tiny_config_dict(budget="60s")), "E")
    # A budget that the first search's training already spent (it counts that too) is refused
    # before any compute, rather than by the first generate step after the data step.
    spent = {**good, "history": [*good["history"][:-1], {**good["history"][-1], "candidates": [
        {"move": "base", "task_seconds": 45.0, "train_seconds": 44.0}]}]}
    with pytest.raises(ContinuationError, match="raise search.budget to at least 55 s"):
        continuation.check_record(spent, config.from_dict(tiny_config_dict(budget="50s")), "E")
    continuation.check_record(spent, config.from_dict(tiny_config_dict(budget="55s")), "E", has_teachers=False)
    # One whose last iteration failed whole kept the ensemble before it and stopped.
    failed = {**good, "history": [*good["history"], {**good["history"][-1], "iteration": 9,
                                                      "all_failed": "i9_c0: RuntimeError: x"}]}
    with pytest.raises(ContinuationError, match="iteration 9 failed whole .*continue from that iteration's"):
        continuation.check_record(failed, cfg, "E")
    # One whose time budget finished a tower after the parameter budget ended the growing is
    # refused as the parameter budget's, with or without a time budget.
    capped = {**timed_out, "history": [*budget["history"][:-1], {**budget["history"][-1], "candidates": [
        {"move": "continue-at-cap", "task_seconds": 45.0, "train_seconds": 44.0}]}]}
    for again in ({}, {"budget": "60s"}):
        with pytest.raises(ContinuationError, match="raise search.max_ensemble_params above 500"):
            continuation.check_record(capped, config.from_dict(tiny_config_dict(max_ensemble_params=500, **again)), "E")
    cached_kd = config.from_dict({**tiny_config_dict(), "training": {
        **tiny_config_dict()["training"], "knowledge_distillation": "adaptive", "distillation_teacher": "cached"}})
    with pytest.raises(ContinuationError, match="teacher logits"):
        continuation.check_record(good, cached_kd, "E", has_teachers=False)
    old = {k: v for k, v in good.items() if k not in ("dataset", "search")}
    with pytest.raises(ContinuationError, match="older AdaNAS"):
        continuation.check_record(old, cfg, "E")


def test_the_generate_step_refuses_an_ensemble_of_other_data_or_iteration(tmp_path, tiny_dataset):
    cfg, data = tiny_dataset
    ens = _ensemble(tmp_path / "ens", cfg, data, iteration=1)
    search = continuation.continued_search(cfg.search, WarmStart(str(ens), 1, 1))
    assert generators.generate_step(search, cfg.seed, 2, ens, data)[0]["iteration"] == 2
    with pytest.raises(ContinuationError, match="the next iteration is 2, not 3"):
        generators.generate_step(search, cfg.seed, 3, ens, data)
    other = write_dataset(tmp_path / "other", [0, 1, 2], [1, 2, 1], y_train=[0, 1, 2, 0])
    with pytest.raises(ContinuationError, match="its fingerprint differs"):
        generators.generate_step(search, cfg.seed, 2, ens, other)
    bigger = write_dataset(tmp_path / "bigger", [0, 1, 2], [1, 2, 0], y_train=[0, 1, 2, 0], shape=(3, 3, 1))
    with pytest.raises(ContinuationError, match="image_shape differs|fingerprint differs"):
        generators.generate_step(search, cfg.seed, 2, ens, bigger)


def test_dataset_fingerprint_follows_the_arrays(tmp_path):
    a = artifacts.dataset_meta(write_dataset(tmp_path / "a", [0, 1], [1, 0]))["fingerprint"]
    b = artifacts.dataset_meta(write_dataset(tmp_path / "b", [0, 1], [1, 0]))["fingerprint"]
    c = artifacts.dataset_meta(write_dataset(tmp_path / "c", [0, 1], [0, 1]))["fingerprint"]
    assert a == b != c and len(a) == 16


def test_run_refuses_a_mismatched_warm_start_before_anything_runs(tmp_path, tiny_dataset, capsys):
    cfg, data = tiny_dataset
    run = tmp_path / "runs" / "old-run"
    _ensemble(run / "select-ensemble" / "ensemble", cfg, data, iteration=0)
    _ensemble(run / "select-ensemble-2" / "ensemble", cfg, data, iteration=1)
    assert local_runs.warm_start_folder(run, tmp_path / "runs") == (run / "select-ensemble-2" / "ensemble").resolve()
    assert local_runs.warm_start_folder("old-run", tmp_path / "runs").name == "ensemble"
    conf = tmp_path / "c.yaml"
    conf.write_text(yaml.safe_dump({**tiny_config_dict(), "search": {**tiny_config_dict()["search"], "family": "dnn",
                                                                      "architecture": {}}}))
    root = tmp_path / "new"
    assert cli.main(["run", "--config", str(conf), "--pipeline-root", str(root), "--warm-start", str(run)]) == 2
    assert "search.family 'cnn', this search has 'dnn'" in capsys.readouterr().err
    assert not root.exists()
    assert cli.main(["run", "--pipeline-root", str(root), "--warm-start", "gs://b/e"]) == 2
    assert "copy the ensemble artifact here" in capsys.readouterr().err


def test_submit_warm_start_reads_the_record_from_cloud_storage_and_imports_it(tmp_path, standin, tiny_dataset, capsys):
    cfg, data = tiny_dataset
    cifar = config.load_config(PAPER / "adanas_gd_cifar10.yaml", [f"image={REGISTRY}", "search.boosting_iterations=2"])
    record = artifacts.ensemble_record(_ensemble(tmp_path / "ens", cifar, data, iteration=3, family="nasnet"))
    record["members"][0]["spec"].update(arch={"cells_per_stack": 7, "penultimate_filters": 768},
                                        arch_str="nasnet(7@768)")
    record["dataset"]["config"] = json.loads(config.section_json(cifar, "dataset"))
    other = {**record, "search": {**record["search"], "family": "cnn"}}
    objects = {"/download/storage/v1/b/old-bucket/o/run/select-ensemble/ensemble/ensemble.json": json.dumps(record),
               "/download/storage/v1/b/old-bucket/o/cnn/ensemble/ensemble.json": json.dumps(other)}
    standin.routes[("GET", "/download/storage/v1/b/")] = lambda p, q, b: (
        (200, json.loads(objects[unquote(p)])) if unquote(p) in objects else (404, {"error": {"code": 404}}))
    uri = "gs://old-bucket/run/select-ensemble/ensemble"
    args = ["--config", str(PAPER / "adanas_gd_cifar10.yaml"), "--set", f"image={REGISTRY}",
            "--set", "search.boosting_iterations=2", "--output", str(tmp_path / "p.yaml")]
    assert _submit(standin, *args, "--warm-start", uri) == 0
    out = capsys.readouterr().out
    assert "iterations 4..5 follow" in out and "Estimated cost of paper-adanas-gd-cifar10" in out
    (post,) = [r for r in standin.requests if r["method"] == "POST"]
    spec = post["body"]["pipelineSpec"]
    assert [e["importer"]["artifactUri"] for e in spec["deploymentSpec"]["executors"].values()
            if "importer" in e] == [{"constant": uri}]
    gen = spec["root"]["dag"]["tasks"]["generate-candidates"]["inputs"]
    assert gen["parameters"]["iteration"]["runtimeValue"]["constant"] == 4
    assert json.loads(gen["parameters"]["search"]["runtimeValue"]["constant"])["boosting_iterations"] == 6
    assert gen["artifacts"]["previous_ensemble"]["taskOutputArtifact"]["producerTask"] == "importer"
    # Another search space: refused after reading the record, before anything goes to Vertex AI.
    standin.requests.clear()
    assert _submit(standin, *args, "--warm-start", "gs://old-bucket/cnn/ensemble") == 2
    assert "search.family 'cnn', this search has 'nasnet'" in capsys.readouterr().err
    # Only reads of the old run's bucket (the record, and the client's bucket look-up).
    assert {r["method"] for r in standin.requests} == {"GET"}
    assert all("/storage/v1/b/old-bucket" in r["path"] for r in standin.requests)


# --- resume: the hermetic runner keeps a killed task's outputs; training resumes exactly -------------

TASK = """
import json, os, sys
ex = json.loads(sys.argv[sys.argv.index("--executor_input") + 1])
out = ex["outputs"]["artifacts"]["model"]["artifacts"][0]["uri"]
os.makedirs(out, exist_ok=True)
before = os.listdir(out)
open(os.path.join(out, "attempt"), "a").write("x")
print("SAW", sorted(before), flush=True)
sys.exit(int(os.environ.get("FAIL", "0")))
"""


def _executor_input(tmp_path, run):
    return {"inputs": {"parameterValues": {"candidate": "c"}},
            "outputs": {"artifacts": {"model": {"artifacts": [{"uri": str(tmp_path / "root" / run / "train" / "model")}]}},
                        "outputFile": str(tmp_path / "root" / run / "train" / "executor_output.json")}}


def test_a_failed_task_finds_its_outputs_again_in_the_next_run(tmp_path, capfd):
    root = tmp_path / "root"
    command = lambda run: [sys.executable, "-c", TASK, "--executor_input", json.dumps(_executor_input(tmp_path, run))]  # noqa: E731
    os.environ["FAIL"] = "1"
    try:
        assert hermetic.run_task(command("run-1"), str(root)) == 1
    finally:
        del os.environ["FAIL"]
    kept = list(hermetic.task_state_dir(root).iterdir())
    assert len(kept) == 1 and not (kept[0] / "inputs").exists()
    # A new run (other output paths), the same task and inputs: its last attempt's outputs are back.
    assert hermetic.run_task(command("run-2"), str(root)) == 0
    assert "SAW ['attempt']" in capfd.readouterr().out
    assert (root / "run-2" / "train" / "model" / "attempt").read_text() == "xx"
    assert list(hermetic.task_state_dir(root).iterdir()) == []   # removed once it succeeded


def test_training_interrupted_and_resumed_ends_where_an_unbroken_one_does(digits_dir, tmp_path, monkeypatch):
    """The resumed input stream skips what the finished epochs consumed, so a candidate killed
    and rerun (the same output folder: its checkpoint) ends with the same weights."""
    from adanas import train
    # With dropout: the resumed training must draw the masks the unbroken one drew.
    cfg = config.from_dict({**tiny_config_dict(architecture={"num_layers": 1, "filters": 4, "dropout": 0.3}),
                            "training": {"train_epochs": 6, "batch_size": 16, "checkpoint_min_seconds": 0}})
    spec = generators.propose(cfg.search, 0, 0, None)[0]
    unbroken = train.train_candidate(spec, cfg.training, digits_dir, tmp_path / "unbroken")

    killing_after_epoch(train, monkeypatch, 3)
    with pytest.raises(Killed):
        train.train_candidate(spec, cfg.training, digits_dir, tmp_path / "broken")
    assert checkpoints.latest(tmp_path / "broken" / "backup") == 3
    monkeypatch.undo()
    resumed = train.train_candidate(spec, cfg.training, digits_dir, tmp_path / "broken")
    for key in ("train_loss", "validation_loss", "validation_error", "test_error"):
        assert resumed[key] == unbroken[key], key
    _, a = artifacts.read_candidate(tmp_path / "unbroken")
    _, b = artifacts.read_candidate(tmp_path / "broken")
    np.testing.assert_array_equal(a["test"].full(), b["test"].full())


# --- runs and compare ------------------------------------------------------------------------------

def _summary(errors, hours=0.01):
    return {"test_error": errors[-1], "ensemble_size": len(errors), "total_params": 1000 * len(errors),
            "task_hours": hours, "accelerator_hours": 0.0, "accelerator": "CPU", "stopped": "",
            "iterations": [{"iteration": i, "chosen": f"i{i}_c0", "chosen_arch": f"cnn({i + 1}@4)",
                            "ensemble_size": i + 1, "validation_error": e, "test_error": e}
                           for i, e in enumerate(errors)]}


def test_runs_lists_local_runs_and_compare_puts_them_side_by_side(tmp_path, capsys):
    root = tmp_path / "runs"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    records = [
        ("a-2026-01-01", {"status": "succeeded", "summary": _summary([0.2, 0.1])}),
        ("b-2026-01-02", {"status": "succeeded", "summary": _summary([0.2, 0.1, 0.05], 0.02),
                          "warm_start": {"uri": "/x/ensemble", "iteration": 1, "members": 2}}),
        ("c-2026-01-03", {"status": "running", "pid": int(dead), "host": local_runs.socket.gethostname()}),
    ]
    for i, (name, fields) in enumerate(records):
        artifacts.write_run_record(root / name, {"name": name, "config_name": "tiny",
                                                 "started": f"2026-01-0{i + 1}T10:00:00", **fields})
    assert cli.main(["runs", "--pipeline-root", str(root)]) == 0
    rows = [[c.strip() for c in ln.split("|")[1:-1]] for ln in capsys.readouterr().out.splitlines()[2:]]
    assert [r[0] for r in rows] == ["a-2026-01-01", "b-2026-01-02", "c-2026-01-03"]
    assert rows[0][3:7] == ["succeeded", "0-1", "2", "10.00%"]
    assert rows[1][3:7] == ["succeeded", "0-2", "3", "5.00%"] and rows[1][8] == "continues iteration 1 of /x/ensemble"
    assert rows[2][3] == "interrupted"
    assert cli.main(["compare", "a-2026-01-01", str(root / "b-2026-01-02"), "--pipeline-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "| iter | A: chosen | A: members | A: val error | A: test error | B: chosen |" in out
    row2 = next(ln for ln in out.splitlines() if ln.startswith("| 2 "))
    assert row2.split("|")[2].strip() == "" and "cnn(3@4)" in row2 and "5.00%" in row2
    assert "A = a-2026-01-01: test error 10.00%, 2 members" in out
    assert cli.main(["compare", "c-2026-01-03", "--pipeline-root", str(root)]) == 2
    assert "has not finished (interrupted)" in capsys.readouterr().err
    assert cli.main(["compare", "nope", "--pipeline-root", str(root)]) == 2
    assert "runs there: a-2026-01-01" in capsys.readouterr().err


@pytest.fixture
def live_process():
    """A process of this host that runs throughout the test (what a running run's record names)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield child
    child.kill()
    child.wait()


def _run_record(folder, pid, **fields):
    artifacts.write_run_record(folder, {"name": folder.name, "config_name": "tiny", "status": "running",
                                        "pid": pid, "host": local_runs.socket.gethostname(),
                                        "config": config.from_dict(tiny_config_dict()).to_dict(), **fields})


def _resume_setup(root, name, *flags):
    """`adanas run --resume NAME` up to the point where the run would start."""
    args = cli.build_parser().parse_args(["run", "--resume", name, "--pipeline-root", str(root), *flags])
    long_search.run_setup(args, cli._load)
    return args


def test_resume_refuses_other_settings_and_running_runs(tmp_path, live_process, capsys):
    root = tmp_path / "runs"
    _run_record(root / "r", live_process.pid, **local_runs.process_identity(live_process.pid))
    assert cli.main(["run", "--resume", "r", "--pipeline-root", str(root), "--set", "seed=2"]) == 2
    assert "--resume reruns the config the run recorded" in capsys.readouterr().err
    for flag in ("--no-cache", "--no-hermetic", "--hermetic"):
        assert cli.main(["run", "--resume", "r", "--pipeline-root", str(root), flag]) == 2
        assert f"drop {flag}" in capsys.readouterr().err
    assert cli.main(["run", "--resume", "r", "--pipeline-root", str(root)]) == 2
    assert f"is still running (process {live_process.pid})" in capsys.readouterr().err


@pytest.mark.skipif(not local_runs.process_identity(os.getpid()), reason="no /proc: pids are all there is")
def test_a_reused_pid_does_not_keep_a_run_running(tmp_path, live_process, capsys):
    """After a reboot, or in a container where adanas is PID 1 each time, the recorded pid may
    name another process, or the resuming one itself."""
    root = tmp_path / "runs"
    alive = local_runs.process_identity(live_process.pid)
    assert set(alive) == {"pid_started", "boot_id"}
    _run_record(root / "same", live_process.pid, **alive)
    _run_record(root / "restarted", live_process.pid, **{**alive, "pid_started": alive["pid_started"] + 1})
    _run_record(root / "rebooted", live_process.pid, **{**alive, "boot_id": "another-boot"})
    _run_record(root / "itself", os.getpid(), **local_runs.process_identity(os.getpid()))
    _run_record(root / "older", live_process.pid)        # recorded before start times were
    states = {p.name: local_runs.state(artifacts.read_run_record(p)) for p in artifacts.run_folders(root)}
    assert states == {"same": "running", "restarted": "interrupted", "rebooted": "interrupted",
                      "itself": "interrupted", "older": "running"}
    for name in ("restarted", "rebooted", "itself"):
        args = _resume_setup(root, name)
        assert args.resumed_from == name and args.cache is True
        assert f"resuming run {name} (interrupted)" in capsys.readouterr().out


def test_runs_in_progress_are_neither_continued_nor_advised_to_resume(tmp_path, live_process, capsys):
    root = tmp_path / "runs"
    _run_record(root / "going", live_process.pid, **local_runs.process_identity(live_process.pid))
    _run_record(root / "broken", live_process.pid, status="failed")
    with pytest.raises(ValueError, match="still running .*: wait for it to finish, or pass an ensemble folder"):
        local_runs.warm_start_folder("going", root)
    assert cli.main(["run", "--warm-start", "going", "--pipeline-root", str(root)]) == 2
    assert "wait for it to finish" in capsys.readouterr().err
    # A run that stopped is not refused for its state (this one has no ensemble to continue).
    with pytest.raises(ValueError, match="no ensemble artifact"):
        local_runs.warm_start_folder("broken", root)
    assert cli.main(["compare", "going", "--pipeline-root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "has not finished (running)" in err and "wait for it to finish" in err and "--resume" not in err
    assert cli.main(["compare", "broken", "--pipeline-root", str(root)]) == 2
    assert "has not finished (failed): nothing to compare yet (adanas run --resume broken)" in capsys.readouterr().err


def test_one_unreadable_run_record_leaves_the_others_listed(tmp_path, capsys):
    root = tmp_path / "runs"
    for i, name in enumerate(["a-2026-01-01", "c-2026-01-03"]):
        artifacts.write_run_record(root / name, {"name": name, "config_name": "tiny", "status": "succeeded",
                                                 "started": f"2026-01-0{2 * i + 1}T10:00:00",
                                                 "summary": _summary([0.2, 0.1])})
    cut = root / "b-2026-01-02" / artifacts.RUN_RECORD
    cut.parent.mkdir()
    cut.write_text('{"format": {"kind": "adanas.run", "version": 2}, "name": "b-20')
    assert [p.name for p in artifacts.run_folders(root)][0] == "a-2026-01-01"
    assert cli.main(["runs", "--pipeline-root", str(root)]) == 0
    rows = [[c.strip() for c in ln.split("|")[1:-1]] for ln in capsys.readouterr().out.splitlines()[2:]]
    assert sorted(r[0] for r in rows) == ["a-2026-01-01", "b-2026-01-02", "c-2026-01-03"]
    broken = next(r for r in rows if r[0] == "b-2026-01-02")
    assert broken[3].startswith("unreadable: not a readable run record (Unterminated string")
    assert [r[3] for r in rows if r[0] != "b-2026-01-02"] == ["succeeded", "succeeded"]
    # Looking a run up still says which there are; the broken one's own error names its file.
    assert cli.main(["compare", "nope", "--pipeline-root", str(root)]) == 2
    assert "runs there: " in capsys.readouterr().err
    assert cli.main(["compare", "b-2026-01-02", "--pipeline-root", str(root)]) == 2
    assert f"{cut.resolve()}: not a readable run record" in capsys.readouterr().err


def test_a_run_record_is_replaced_whole_or_not_at_all(tmp_path):
    folder = tmp_path / "r"
    artifacts.write_run_record(folder, {"name": "r", "status": "running", "tasks": []})
    # A write that fails half-way (here: a value JSON cannot hold) leaves the record as it was.
    with pytest.raises(TypeError):
        artifacts.update_run_record(folder, tasks=[object()])
    assert artifacts.read_run_record(folder)["tasks"] == []
    artifacts.update_run_record(folder, status="succeeded")
    assert artifacts.read_run_record(folder)["status"] == "succeeded"
    assert [p.name for p in folder.iterdir()] == [artifacts.RUN_RECORD]


# --- Vertex AI Experiments ------------------------------------------------------------------------

def test_an_experiment_run_merges_every_metrics_artifact_so_final_metrics_have_their_own_names(monkeypatch):
    """aiplatform 2.7.0's PipelineJob._query_experiment_row (what get_experiment_df shows of a
    pipeline run in an experiment) updates one dict with the metadata of every system.Metrics
    artifact of the run, in listing order. train and select log `test_error` too, so that key
    shows whichever came last; the evaluate step's `final_*` keys are its alone."""
    from types import SimpleNamespace

    from google.cloud.aiplatform import pipeline_jobs
    from google.cloud.aiplatform.metadata import artifact, execution

    evaluate = SimpleNamespace(metadata={"test_error": 0.01, "final_test_error": 0.01})
    train = SimpleNamespace(metadata={"test_error": 0.30})
    monkeypatch.setattr(execution.Execution, "list", classmethod(lambda cls, **k: []))
    monkeypatch.setattr(artifact.Artifact, "list", classmethod(lambda cls, **k: [evaluate, train]))
    node = SimpleNamespace(project="p", location="l", credentials=None, resource_name="ctx",
                           schema_title="system.PipelineRun", display_name="run")
    row = pipeline_jobs.PipelineJob._query_experiment_row(node)
    assert row.metrics["test_error"] == 0.30          # a candidate's, not the search's
    assert row.metrics["final_test_error"] == 0.01
