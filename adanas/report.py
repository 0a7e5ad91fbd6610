"""Plain-text tables of a search report (as written by `adanas.evaluate`)."""

from __future__ import annotations

from typing import Any


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-flavoured Markdown table, columns padded so it also reads well in a terminal."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"

    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
                     + [line(r) for r in cells[1:]])


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100.0 * x:.2f}%"


def format_report(report: dict[str, Any]) -> str:
    rows = [[it["iteration"], it["chosen"] or "(kept previous)", it["chosen_arch"] or "-",
             it["ensemble_size"], f"{it['ensemble_params']:,}", _pct(it["validation_error"]),
             _pct(it["test_error"]), _pct(it["best_single_test_error"])]
            for it in report["iterations"]]
    best = report["best_single_candidate"]
    weights = ", ".join(f"{m['name']} {m['weight']:.3f}" for m in report["members"])
    return "\n".join([
        table(["iter", "chosen", "architecture", "members", "params", "ens. val error",
               "ens. test error", "best single test error"], rows),
        "",
        f"Final ensemble: {report['ensemble_size']} members, {report['total_params']:,} params, "
        f"test error {_pct(report['test_error'])} on {report['test_examples']} examples "
        f"(best single candidate {best['name']} {best['arch']}: {_pct(best['test_error'])}).",
        f"Member weights: {weights}.",
        _returned_line(report),
        f"Search ended: {report.get('stopped') or 'after the last iteration'}.",
        *([_budget_line(report["budget"])] if report.get("budget") else []),
        f"Compute: {report['task_hours']:.3f} training task-hours, "
        + (f"{report['accelerator_hours']:.3f} {report['accelerator']}-hours"
           if report["accelerator"] != "CPU" else "no GPU/TPU")
        + "".join(f"; failed candidates in iteration {it['iteration']}: {', '.join(it['failed'])}"
                  for it in report["iterations"] if it.get("failed")) + ".",
    ])


def _budget_line(b: dict[str, Any]) -> str:
    return (f"Budget: {b['used_seconds']:.0f} s used of {b['given_seconds']:.0f} s given "
            f"({b['used_fraction']:.0%}; {b['counted']}).")


def _returned_line(report: dict[str, Any]) -> str:
    """Why the exported model is what it is (the grown ensemble, part of it, or one tower)."""
    r = report.get("returned")
    if not r:
        return "Returned: the grown ensemble."
    options = "; ".join(f"{o['label']} {o['validation_objective']:.4f}" for o in r["options"])
    return (f"Returned: {r['label']}, the lowest validation objective among: {options} "
            f"(the grown ensemble: {r['grown_ensemble_size']} members, test error "
            f"{_pct(r['grown_ensemble_test_error'])}).")


def format_quality(report: dict[str, Any]) -> str:
    """One line each for calibration and CPU latency (what `adanas run` prints after the table)."""
    lines = []
    cal = report.get("calibration")
    if cal:
        how = cal.get("unfitted") or "fitted on validation"
        lines.append(f"Calibration (test): expected calibration error {_pct(cal['ece_before'])}, "
                     f"{_pct(cal['ece_after'])} after temperature scaling (T = "
                     f"{cal['temperature']:.3g}, {how}).")
    for lat in report.get("latency", []):
        per_batch = ", ".join(f"{v:.3f} ms/image at batch {k.split('_')[1]}"
                              for k, v in lat.items() if k.startswith("batch_"))
        lines.append(f"Latency of {lat['model']} on CPU: {per_batch}.")
    return "\n".join(lines)


def format_details(report: dict[str, Any]) -> str:
    """The Markdown sections below the table in report.md: per-class precision/recall/F1,
    calibration and latency."""
    parts = []
    if report.get("per_class"):
        parts += ["## Per class (test)", "",
                  table(["class", "precision", "recall", "F1", "support"],
                        [[c["class"], f"{c['precision']:.3f}", f"{c['recall']:.3f}",
                          f"{c['f1']:.3f}", c["support"]] for c in report["per_class"]]), ""]
    quality = format_quality(report)
    if quality:
        parts += ["## Calibration and latency", "", quality, ""]
    return "\n".join(parts)
