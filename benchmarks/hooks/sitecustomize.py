"""Loaded by every task process of a benchmarked run (the benchmark puts this folder on
PYTHONPATH). Records when the process started and when the KFP executor ran the component
function, as one JSON line per task in $ADANAS_BENCH_TIMINGS. Not used outside benchmarks."""

import json
import os
import sys
import time

_OUT = os.environ.get("ADANAS_BENCH_TIMINGS")

if _OUT:
    try:
        import psutil
        _STARTED = psutil.Process().create_time()
    except Exception:  # noqa: BLE001 - fall back to "now", a few ms late
        _STARTED = time.time()

    def _patch():
        from kfp.dsl import executor

        original = executor.Executor.execute

        def execute(self, *args, **kwargs):
            begin = time.time()
            try:
                return original(self, *args, **kwargs)
            finally:
                end = time.time()
                with open(_OUT, "a") as f:
                    f.write(json.dumps({"function": self.func.__name__, "pid": os.getpid(),
                                        "process_start": _STARTED, "begin": begin,
                                        "end": end}) + "\n")

        executor.Executor.execute = execute

    # Task processes are `python -m kfp.dsl.executor_main ...`; they import kfp anyway.
    if "kfp.dsl.executor_main" in sys.orig_argv:
        _patch()
