"""The command line of long searches (pipelines/cli.py wires it in):

    adanas estimate --config F [--set K=V ...]     tasks, accelerator-hours, price (adanas.cost)
    adanas runs [--pipeline-root runs/local]        the local runs, one line each
    adanas compare RUN RUN ...                      their per-iteration tables side by side
    adanas run --warm-start ENSEMBLE | --resume RUN
    adanas submit --warm-start gs://.../ensemble --max-cost USD

Everything here happens before any compute: a run to resume, an ensemble to continue from and a
cost above --max-cost are refused with a message and no task started, no request sent.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

from adanas import artifacts, continuation, cost, runs
from adanas.config import Config, from_dict
from adanas.continuation import WarmStart
from pipelines import local_runs


# --- options and commands -------------------------------------------------------------------------

def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--warm-start", metavar="ENSEMBLE",
                   help="continue a finished search for search.boosting_iterations more "
                        "iterations, numbered on from its last one: ENSEMBLE is an ensemble "
                        "artifact folder, a local run folder (or its name under --pipeline-root: "
                        "its final ensemble). Its dataset and search space must match")
    p.add_argument("--resume", metavar="RUN",
                   help="rerun a failed or interrupted local run (its folder, or its name under "
                        "--pipeline-root) with its recorded config: finished tasks come from the "
                        "cache and a killed training resumes from its last checkpoint")


def add_submit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--warm-start", metavar="gs://.../ENSEMBLE",
                   help="continue a finished search from its ensemble artifact on Cloud Storage "
                        "(brought in with dsl.importer) for search.boosting_iterations more "
                        "iterations; its record is read and checked before anything is submitted")
    p.add_argument("--max-cost", type=float, metavar="USD",
                   help="refuse to submit when the estimated price (adanas estimate) is above "
                        "this; nothing is sent then")


def add_commands(sub, config_args: Callable, load: Callable) -> None:
    p = sub.add_parser("estimate", help="tasks, accelerator-hours and price of a search, before it runs",
                       description="Plan the search as the pipeline would (generator, budget) and "
                                   "print per iteration and in total its tasks, accelerator-hours "
                                   "and an approximate price, with every assumption (adanas.cost; "
                                   "override with cost.images_per_second and cost.prices).")
    config_args(p)
    p.set_defaults(func=lambda args: cmd_estimate(args, load))

    p = sub.add_parser("runs", help="list local runs",
                       description="One line per local run: when, which config, its state "
                                   "(succeeded, failed, running, interrupted), members, test "
                                   "error and compute.")
    p.add_argument("--pipeline-root", default="runs/local",
                   help="where the runs are (default: %(default)s)")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("compare", help="local runs' per-iteration tables side by side",
                       description="Print the per-iteration tables of finished local runs next "
                                   "to each other, then each run's final line.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders, or names under --pipeline-root")
    p.add_argument("--pipeline-root", default="runs/local",
                   help="where run names are looked up (default: %(default)s)")
    p.set_defaults(func=cmd_compare)


def cmd_estimate(args, load) -> int:
    print(cost.format_estimate(cost.estimate(load(args))))
    return 0


def cmd_runs(args) -> int:
    folders = artifacts.run_folders(args.pipeline_root)
    if not folders:
        print(f"no runs under {args.pipeline_root}")
        return 0
    rows = []
    for folder in folders:
        try:
            record = artifacts.read_run_record(folder)
        except (artifacts.ArtifactError, OSError) as e:
            # Listed with why, the other runs as ever: the path is the run's row already.
            why = str(e).removeprefix(f"{folder / artifacts.RUN_RECORD}: ")
            rows.append(({"name": folder.name}, f"unreadable: {why}"))
        else:
            rows.append((record, local_runs.state(record)))
    print(runs.format_runs(rows))
    return 0


def cmd_compare(args) -> int:
    found = []
    for name in args.runs:
        record = artifacts.read_run_record(local_runs.resolve_run(name, args.pipeline_root))
        if not record.get("summary"):
            state = local_runs.state(record)
            # --resume refuses a run still going: it only helps one that stopped.
            hint = (": wait for it to finish" if state == "running" else
                    f" (adanas run --resume {record['name']})" if state in ("failed", "interrupted")
                    else "")
            raise ValueError(f"run {record['name']} has not finished ({state}): nothing to "
                             f"compare yet{hint}")
        found.append((record["name"], record["summary"]))
    print(runs.format_compare(found))
    return 0


# --- adanas run: --resume, --warm-start ------------------------------------------------------------

def run_setup(args, load: Callable[[Any], Config]) -> tuple[Config, WarmStart | None]:
    """The config and warm start of `adanas run`; with --resume, those the run recorded, and the
    pipeline root, caching and hermetic settings it needs (set on `args`)."""
    args.resumed_from, args.config_source = None, args.config
    if args.resume:
        # Resuming with --cache is what --resume does anyway; with --no-cache it could not be.
        ignored = given(args, "config", "overrides", "warm_start", "hermetic") + \
            (["--no-cache"] if args.cache is False else [])
        if ignored:
            raise ValueError(f"--resume reruns the config the run recorded, with its hermetic "
                             f"setting and the cache on: drop {', '.join(ignored)}")
        if args.in_process:
            raise ValueError("--resume resumes a kfp.local run; drop --in-process")
        folder = local_runs.resolve_run(args.resume, args.pipeline_root)
        record = artifacts.read_run_record(folder)
        state = local_runs.state(record)
        if state == "running":
            raise ValueError(f"run {record['name']} is still running (process {record['pid']}); "
                             f"stop it first")
        cfg = from_dict(record["config"])
        ws = record.get("warm_start")
        warm = None if not ws else WarmStart(ws["uri"], int(ws["iteration"]), int(ws.get("members", 0)))
        # The same pipeline root (its cache) and the same task settings: every finished task of
        # the run is reused, and the hermetic runner hands a killed task back its checkpoint.
        args.pipeline_root, args.cache = str(folder.parent), True
        args.hermetic = record.get("hermetic", True)
        args.resumed_from, args.config_source = record["name"], record.get("config_source")
        print(f"AdaNAS: resuming run {record['name']} ({state}) under {args.pipeline_root}: "
              f"its finished tasks come from the cache", flush=True)
        return cfg, warm
    if args.in_process:
        ignored = given(args, "cache", "hermetic", "verbose")
        if ignored:
            raise ValueError(f"--in-process runs the steps in this process, without kfp.local "
                             f"(no cache, no hermetic tasks, no task logs): drop "
                             f"{', '.join(ignored)}")
    args.cache, args.hermetic = bool(args.cache), args.hermetic is not False
    cfg = load(args)
    if not args.warm_start:
        return cfg, None
    if args.in_process:
        raise ValueError("--warm-start runs the pipeline; drop --in-process")
    if str(args.warm_start).startswith("gs://"):
        raise ValueError("a local run reads local folders: copy the ensemble artifact here "
                         "(gcloud storage cp -r gs://.../ensemble .) and pass its folder")
    folder = local_runs.warm_start_folder(args.warm_start, args.pipeline_root)
    return cfg, _checked_warm_start(str(folder), artifacts.ensemble_record(folder), cfg,
                                    artifacts.has_teacher(folder))


def _checked_warm_start(uri: str, record: dict[str, Any], cfg: Config,
                        has_teachers: bool | None) -> WarmStart:
    continuation.check_record(record, cfg, uri, has_teachers)
    warm = WarmStart.from_record(uri, record)
    last = warm.first_iteration + cfg.search.boosting_iterations - 1
    print(f"AdaNAS: continuing {uri} (iteration {warm.iteration}, {warm.members} members): "
          f"iterations {warm.first_iteration}..{last} follow", flush=True)
    return warm


# --- adanas submit: --warm-start, --max-cost ---------------------------------------------------------

def submit_setup(args, cfg: Config, read_text: Callable[[str], str]) -> WarmStart | None:
    """Before compiling: the warm start's record (read from Cloud Storage with `read_text`) and
    its checks, the cost line, and the --max-cost refusal. Without --warm-start nothing here
    sends a request."""
    warm, record = None, None
    if args.warm_start:
        uri = args.warm_start.rstrip("/")
        if not uri.startswith("gs://"):
            raise ValueError(f"--warm-start {args.warm_start!r}: on Vertex AI it takes the gs:// URI "
                             f"of an ensemble artifact (a select-ensemble task's `ensemble` "
                             f"output of an earlier run)")
        where = f"{uri}/{artifacts.ENSEMBLE_RECORD}"
        record = artifacts.ensemble_record_from_text(read_text(where), where)
        warm = _checked_warm_start(uri, record, cfg, None)
    try:
        est, why = cost.estimate(cfg, record), ""
    except cost.EstimateError as e:
        est, why = None, str(e)
    print(est.total_line() if est is not None else f"Estimated cost: unavailable ({why})", flush=True)
    if args.max_cost is not None:
        if est is None or est.price is None:
            raise ValueError(f"--max-cost {args.max_cost:g}: the price cannot be estimated "
                             f"({why or '; '.join(a for a in est.assumptions if a.startswith('no price'))}); "
                             f"nothing was submitted")
        if est.price > args.max_cost:
            raise ValueError(f"refused: the estimated price of {cfg.name}, {cost.usd(est.price)}, is "
                             f"above --max-cost {cost.usd(args.max_cost)}; nothing was submitted. "
                             f"`adanas estimate` shows the assumptions; shrink the search or "
                             f"raise --max-cost")
    return warm


def template_setup(args) -> None:
    if args.max_cost is not None or args.warm_start:
        raise ValueError("--max-cost and --warm-start need the search config (--config): an "
                         "already compiled --template cannot be estimated or continued")
    ignored = given(args, "config", "overrides", "output")
    if ignored:
        raise ValueError(f"--template submits a pipeline compiled already: drop "
                         f"{', '.join(ignored)}, or drop --template to compile the config")


# --- options that another one makes meaningless ---------------------------------------------------

def given(args, *dests: str) -> list[str]:
    """The options among `dests` (argparse dests) set on the command line, i.e. not at their
    parser's default, as typed: --set, --cache or --no-cache, ..."""
    found = []
    for dest in dests:
        value = getattr(args, dest)
        if value == args.parser.get_default(dest):
            continue
        flag = "--" + {"overrides": "set"}.get(dest, dest).replace("_", "-")
        found.append(flag.replace("--", "--no-", 1) if value is False else flag)
    return found
