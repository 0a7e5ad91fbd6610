"""The `adanas` command: validate, run locally, compile, submit to Vertex AI, export components."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from pipelines import DEFAULT_CONFIG


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=str(DEFAULT_CONFIG),
                   help="search config YAML (default: the embedded digits config, %(default)s)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set training.train_epochs=2 "
                        "(repeatable; VALUE is read as YAML)")


def _load(args):
    """The config, validated, then checked against the dataset's image shape where it is known
    without loading the data (adanas.preflight): all before any compute."""
    from adanas import preflight
    from adanas.config import load_config
    cfg = load_config(args.config, args.overrides)
    args.dataset_seen = preflight.check(cfg)
    return cfg


def cmd_validate(args) -> int:
    cfg = _load(args)
    from adanas.config import check_data_dir, check_target
    check_target(cfg, args.target or "vertex")
    if args.target:   # a local run reads this machine's files; a submitted one its pods'
        check_data_dir(cfg, args.target)
    seen = args.dataset_seen
    shape = (f" (dataset {cfg.dataset.name}: {'x'.join(map(str, seen.image_shape))} images, "
             f"{seen.num_classes} classes)" if seen else "")
    print(cfg.to_yaml() if args.show else f"{args.config}: OK for the {args.target or 'vertex'} target{shape}")
    return 0


def cmd_schema(args) -> int:
    from adanas.config import json_schema
    text = json.dumps(json_schema(), indent=2) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}; in a config, point yaml-language-server at it with a first line\n"
          f"# yaml-language-server: $schema={out.resolve()}")
    return 0


def cmd_run(args) -> int:
    from pipelines import long_search
    # Before any compute: a bad config, a run to resume or an ensemble to continue fails here.
    cfg, warm = long_search.run_setup(args, _load)
    from adanas.report import format_quality, format_report
    from pipelines.console import Console
    from pipelines.local_run import run_local

    # Child task processes inherit this: keep TensorFlow's C++ start-up chatter out of the logs.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # ... and this: a user's builder or generator (package.module:function) imports from the
    # working directory in the tasks too, as it did when the config was validated.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [os.getcwd(), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])
    print(f"AdaNAS: running {cfg.name!r} locally ({cfg.search.boosting_iterations} iterations x "
          f"{cfg.search.candidates_per_iteration} candidates, dataset {cfg.dataset.name}); "
          f"outputs under {args.pipeline_root}", flush=True)
    if args.in_process:
        import time

        from adanas.search import run_search
        t0 = time.perf_counter()
        report, report_dir = run_search(cfg, Path(args.pipeline_root) / f"{cfg.name}-in-process")
        report["wall_seconds"] = time.perf_counter() - t0
    else:
        console = Console(sys.stdout, verbose=args.verbose, hermetic=args.hermetic)
        try:
            report, report_dir = run_local(cfg, args.pipeline_root, enable_caching=args.cache,
                                           hermetic=args.hermetic, console=console,
                                           warm_start=warm, resumed_from=args.resumed_from,
                                           config_source=args.config_source)
        finally:
            if console.run_log is not None:
                print(f"kfp.local's log: {console.run_log}", flush=True)
    print("\n" + format_report(report))
    quality = format_quality(report)
    print("\n" + quality if quality else "")
    if report.get("student"):  # export.student: the distilled student beside the ensemble
        from adanas.student import format_comparison
        print("\n" + format_comparison(report["student"]))
    print(f"\nWall time {report['wall_seconds']:.0f}s.\n"
          f"Report: {report.get('report_page') or report_dir / 'report.html'} (Markdown: "
          f"{report_dir}/report.md)\n"
          + (f"Data preview: {report['preview_page']}\n" if report.get("preview_page") else "")
          + f"Exported ensemble: {report['model']}")
    return 0


def cmd_compile(args) -> int:
    cfg = _load(args)
    from pipelines.adanas_pipeline import compile_pipeline
    suffix = "" if args.target == "vertex" else f"-{args.target}"
    out = compile_pipeline(cfg, args.output or f"build/{cfg.name}{suffix}.yaml", args.target,
                           caching=args.cache)
    print(f"compiled {cfg.name} for {args.target} ({cfg.image_uri()}) -> {out}")
    return 0


def cmd_kfp_submit(args) -> int:
    cfg = _load(args)
    from adanas.images import registry_host
    from pipelines import kfp_client
    from pipelines.adanas_pipeline import compile_pipeline
    if registry_host(cfg.image) is None:
        # Not refused: a kind cluster runs images side-loaded with `kind load docker-image`.
        print(f"adanas: warning: image {cfg.image!r} names no registry: the cluster's nodes must "
              f"already have {cfg.image_uri()} and {cfg.train_image_uri()} (kind load "
              f"docker-image IMAGE:TAG --name CLUSTER), or they pull them from Docker Hub",
              file=sys.stderr)
    # --no-cache must reach every task, also those inside conditions and loops, which the
    # client's run-level flag does not: compile it into each task as well.
    template = compile_pipeline(cfg, args.output or f"build/{cfg.name}-kubernetes.yaml", "kubernetes",
                                caching=args.cache)
    result = kfp_client.submit(template, args.host, args.experiment, args.run_name, args.cache,
                               args.namespace)
    print(f"submitted run {result.run_id}\n{args.host.rstrip('/')}/#/runs/details/{result.run_id}")
    return 0


def cmd_submit(args) -> int:
    from pipelines import vertex
    labels = vertex.parse_labels(args.label)
    template = args.template
    if template is None:
        cfg = _load(args)
        # Before anything is compiled: Vertex AI pulls an image without a registry host from
        # Docker Hub. (A --template's images are checked by vertex.submit, before any request.)
        vertex.check_registry_images([cfg.image], "the config's `image`")
        from pipelines import long_search
        # The estimate's total line; above --max-cost, refused here: nothing compiled or sent.
        warm = long_search.submit_setup(
            args, cfg, lambda uri: vertex.read_gcs_text(uri, project=args.project))
        from pipelines.adanas_pipeline import compile_pipeline
        template = compile_pipeline(cfg, args.output or f"build/{cfg.name}.yaml", caching=args.cache,
                                    warm_start=warm)
    else:
        from pipelines import long_search
        long_search.template_setup(args)
    job = vertex.submit(template, project=args.project, region=args.region,
                        pipeline_root=args.pipeline_root, display_name=args.display_name,
                        job_id=args.job_id, service_account=args.service_account,
                        network=args.network, labels=labels, enable_caching=args.cache,
                        experiment=args.experiment, api_endpoint=args.api_endpoint)
    print(f"submitted {job.resource_name}\n{vertex.console_url(job)}")
    return 0


def cmd_components(args) -> int:
    import components
    from adanas.images import image_ref
    # A repository gets the tag `make images` gives it (<version>-<content hash>).
    image = args.image or image_ref("adanas")
    if args.image and ":" not in args.image.rsplit("/", 1)[-1] and "@" not in args.image:
        image = image_ref(args.image)
    for path in components.export_specs(args.output_dir, image):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from pipelines import long_search
    parser = argparse.ArgumentParser(
        prog="adanas",
        description="AdaNet-style ensemble neural architecture search as a KFP v2 pipeline.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a config and exit",
                       description="Load and validate a config; errors name the key path.")
    _config_args(p)
    p.add_argument("--show", action="store_true",
                   help="print the full config with defaults, as YAML with each key's doc")
    p.add_argument("--target", choices=["vertex", "kubernetes"], default=None,
                   help="also check the rules of this compile target, and that dataset.data_dir is "
                        "where its pods can read it (default: vertex's rules, data_dir as local "
                        "runs read it)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="write the config's JSON Schema (for YAML editors)",
                       description="Write the JSON Schema (draft 2020-12) of a search config, "
                                   "with every key's doc, for editors such as "
                                   "yaml-language-server.")
    p.add_argument("--output", default="build/adanas-config.schema.json",
                   help="where to write it; - for stdout (default: %(default)s)")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("run", help="run the pipeline locally (kfp.local)",
                       description="Run the whole search on this machine with kfp.local's "
                                   "SubprocessRunner (no cloud, no network) and print a "
                                   "per-iteration table.")
    _config_args(p)
    p.add_argument("--pipeline-root", default="runs/local",
                   help="where task outputs are written (default: %(default)s)")
    # None: not given (off, on), so that an option --in-process or --resume cannot honour is
    # refused even when it says the default (pipelines/long_search.py: run_setup).
    p.add_argument("--cache", action=argparse.BooleanOptionalAction, default=None,
                   help="reuse outputs of tasks already run with the same inputs "
                        "(default: off)")
    p.add_argument("--hermetic", action=argparse.BooleanOptionalAction, default=None,
                   help="give each task copies of its declared input artifacts only, the rest of "
                        "the run hidden, as open-source KFP does (default: on)")
    p.add_argument("--in-process", action="store_true",
                   help="run the same steps in this process, without KFP (for debugging)")
    p.add_argument("--verbose", action="store_true",
                   help="also print kfp.local's own output and every task's (by default they go "
                        "to <pipeline-root>/<run>/run.log and each task's task.log, and only "
                        "one line per task start and end is printed)")
    long_search.add_run_options(p)
    # args.parser: long_search.given compares each option with its default there.
    p.set_defaults(func=cmd_run, parser=p)

    p = sub.add_parser("compile", help="compile the pipeline to YAML",
                       description="Compile the pipeline for a config to a KFP v2 YAML "
                                   "(what Vertex AI Pipelines and KFP run).")
    _config_args(p)
    p.add_argument("--output", help="output YAML (default: build/<config name>[-kubernetes].yaml)")
    p.add_argument("--target", choices=["vertex", "kubernetes"], default="vertex",
                   help="vertex: Vertex AI accelerator names; kubernetes: open-source KFP with "
                        "extended resources, node selectors and tolerations (default: %(default)s)")
    p.add_argument("--cache", action=argparse.BooleanOptionalAction, default=None,
                   help="--cache: every task may be reused from the cache, evaluate included; "
                        "--no-cache: none may (default: each task's own setting: all cached "
                        "except evaluate, which always reruns)")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("kfp-submit", help="compile for kubernetes and submit to open-source KFP",
                       description="Compile the kubernetes target and create a run on a KFP API "
                                   "server (e.g. a kind cluster's, port-forwarded).")
    _config_args(p)
    p.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080")
    p.add_argument("--experiment", default="adanas", help="experiment name (default: %(default)s)")
    p.add_argument("--run-name", help="run name (default: the pipeline name)")
    p.add_argument("--namespace", help="Kubernetes namespace (multi-user KFP only)")
    p.add_argument("--output", help="where to write the compiled YAML")
    p.add_argument("--cache", action=argparse.BooleanOptionalAction, default=None,
                   help="--cache: reuse results of identical tasks everywhere, the evaluate task "
                        "included; --no-cache: rerun every task (compiled into each task, nested "
                        "ones included, and sent as the run's flag). Default: each task's "
                        "compiled setting: cached, except evaluate, which always reruns")
    p.set_defaults(func=cmd_kfp_submit)

    p = sub.add_parser("submit", help="compile and submit to Vertex AI Pipelines",
                       description="Compile the config (or take --template) and create a "
                                   "Vertex AI PipelineJob. Uses Application Default Credentials. "
                                   "The images must be in a registry (--set image=REGION-docker."
                                   "pkg.dev/PROJECT/REPO/adanas after make push IMAGE=...): "
                                   "an image without a registry host is refused before anything "
                                   "is compiled or sent.")
    _config_args(p)
    p.add_argument("--template", help="an already compiled pipeline YAML to submit instead")
    p.add_argument("--output", help="where to write the compiled YAML (default: build/<name>.yaml)")
    p.add_argument("--project", required=True, help="Google Cloud project ID")
    p.add_argument("--region", required=True, help="Vertex AI region, e.g. us-central1")
    p.add_argument("--pipeline-root", required=True,
                   help="gs:// folder for the pipeline's artifacts")
    p.add_argument("--service-account", help="service account the pipeline runs as")
    p.add_argument("--network", help="VPC network to peer, projects/NUMBER/global/networks/NAME")
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                   help="job label (repeatable)")
    p.add_argument("--display-name", help="job display name (default: the pipeline name)")
    p.add_argument("--job-id", help="job ID (default: generated by the client)")
    p.add_argument("--cache", action=argparse.BooleanOptionalAction, default=None,
                   help="--cache: let Vertex AI reuse results of identical tasks everywhere, "
                        "the evaluate task included (Vertex AI applies it to every task, "
                        "overriding the compiled settings); --no-cache: rerun every task. "
                        "Default: each task's compiled setting: cached, except evaluate, which "
                        "always reruns so each run has its own report")
    p.add_argument("--experiment", help="Vertex AI Experiment to add the run to (created if "
                                        "missing), to compare runs side by side")
    p.add_argument("--api-endpoint",
                   help="Vertex AI API endpoint (default: the region's; for private endpoints "
                        "and tests)")
    long_search.add_submit_options(p)
    p.set_defaults(func=cmd_submit, parser=p)
    long_search.add_commands(sub, _config_args, _load)

    p = sub.add_parser("components", help="export each component's YAML spec for reuse",
                       description="Write one YAML spec per component; load them in your own "
                                   "pipelines with kfp.components.load_component_from_file.")
    p.add_argument("--output-dir", default="build/components",
                   help="folder for the specs (default: %(default)s)")
    p.add_argument("--image", help="image repository (or repository:tag) the components run in; "
                                   "a repository gets the tag of `make images` "
                                   "(default: adanas:<version>-<content hash>)")
    p.set_defaults(func=cmd_components)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    # A user's builder or generator (search.builder: package.module:function) imports from the
    # working directory, as `python -m` would (the console script's own folder is first instead).
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    from adanas.config import ConfigError
    from pipelines.console import TaskFailed
    try:
        return args.func(args)
    except TaskFailed as e:
        print(f"adanas: {e}", file=sys.stderr)
        return 1
    except ConfigError as e:
        print(f"adanas: config error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"adanas: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
