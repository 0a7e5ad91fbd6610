"""Self-contained HTML pages: the evaluate step's report and the prepare step's augmentation
preview. Figures come from adanas.plots as PNGs embedded as base64 data URIs, styles are inline:
one file, no network, rendered as is by the KFP and Vertex AI consoles (HTML artifacts) and by
any browser."""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from adanas import plots
from adanas.report import format_report

STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 24px; color: #222; max-width: 1100px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
figure { display: inline-block; margin: 8px 16px 8px 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; }
p.note { color: #555; font-size: 13px; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100.0 * x:.2f}%"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(alt)}</figcaption></figure>")


def _table(headers: list[str], rows: list[list[Any]], left: int = 1) -> str:
    """An HTML table; the first `left` columns are left-aligned (names), the rest numbers."""
    def cell(tag: str, i: int, v: Any) -> str:
        return f'<{tag}{" class=l" if i < left else ""}>{_e(v)}</{tag}>'
    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{_e(title)}</title><style>{STYLE}</style></head>\n"
            f"<body>\n<h1>{_e(title)}</h1>\n{body}\n</body></html>\n")


def render_report(report: dict[str, Any]) -> str:
    """The evaluate step's report page, from report.json's content alone."""
    parts: list[str] = []
    table_text, _, summary = format_report(report).partition("\n\n")
    iterations = report["iterations"]
    parts.append("<h2>Search</h2>")
    parts.append(_table(
        ["iteration", "chosen", "architecture", "members", "params", "ens. val error",
         "ens. test error", "best single test error"],
        [[it["iteration"], it["chosen"] or "(kept previous)", it["chosen_arch"] or "-",
          it["ensemble_size"], f"{it['ensemble_params']:,}", _pct(it["validation_error"]),
          _pct(it["test_error"]), _pct(it["best_single_test_error"])] for it in iterations], left=3))
    parts += [f"<p>{_e(line)}</p>" for line in summary.splitlines() if line.strip()]

    figures = [_img(plots.errors_per_iteration(iterations), "validation and test error per iteration")]
    if report.get("candidates"):
        figures.append(_img(plots.error_vs_params(report["candidates"]),
                            "error vs parameters of every candidate (chosen ones starred)"))
    figures.append(_img(plots.member_weights(report["members"]), "member weights"))
    parts.append("".join(figures))

    if "confusion_matrix" in report:
        parts.append("<h2>Test split: per class</h2>")
        parts.append(_img(plots.confusion(report["confusion_matrix"], report["class_names"]),
                          "confusion matrix"))
        parts.append(_table(["class", "precision", "recall", "F1", "support"],
                            [[c["class"], f"{c['precision']:.3f}", f"{c['recall']:.3f}",
                              f"{c['f1']:.3f}", c["support"]] for c in report["per_class"]]))
    cal = report.get("calibration")
    if cal:
        parts.append("<h2>Calibration</h2>")
        how = (f"not fitted: {_e(cal['unfitted'])}" if cal.get("unfitted") else
               f"fitted on the {_e(cal['fitted_on'])} split (minimum NLL)")
        parts.append(f'<p class="note">Temperature scaling: logits divided by T = '
                     f"{cal['temperature']:.4g}, {how}; scored on the {_e(cal['scored_on'])} "
                     f"split. Predictions do not change, only their confidence.</p>")
        parts.append(_table(["", "expected calibration error", "NLL"],
                            [["raw logits", _pct(cal["ece_before"]), f"{cal['nll_before']:.4f}"],
                             [f"T = {cal['temperature']:.4g}", _pct(cal["ece_after"]),
                              f"{cal['nll_after']:.4f}"]]))
        parts.append(_img(plots.reliability(cal["reliability_before"], cal["reliability_after"],
                                            cal["temperature"], cal["ece_before"], cal["ece_after"]),
                          "reliability diagram"))
    if report.get("latency"):
        parts.append("<h2>Latency on CPU</h2>")
        batches = sorted({int(k.split("_")[1]) for lat in report["latency"] for k in lat
                          if k.startswith("batch_")})
        parts.append(_table(["model"] + [f"batch {b}: ms per image" for b in batches],
                            [[lat["model"]] + [f"{lat[f'batch_{b}']:.3f}" for b in batches]
                             for lat in report["latency"]]))
        parts.append('<p class="note">Median of repeated calls of the exported SavedModel\'s '
                     "serving signature on this task's CPU, divided by the batch size.</p>")
    failed = [c for c in report.get("candidates", []) if c["failed"]]
    if failed:
        parts.append("<h2>Failed candidates</h2>")
        parts.append(_table(["iteration", "candidate", "architecture", "error"],
                            [[c["iteration"], c["name"], c["arch"] or "-", c["error"]] for c in failed],
                            left=4))
    return _page(f"AdaNAS report: {report['dataset']}", "\n".join(parts))


def render_preview(grid_png: bytes, meta: dict[str, Any], shown: int, per_class: int,
                   draws: int) -> str:
    """The prepare step's page: training images, raw and augmented, and the recorded policy."""
    policy = meta["augmentation"]
    splits = ", ".join(f"{k} {v:,}" for k, v in meta["splits"].items())
    shape = "x".join(str(s) for s in meta["image_shape"])
    note = (f"{meta['num_classes']} classes ({shown} shown, {per_class} training images each): "
            f"each row is one image as stored (left) and {draws} independent draws of the "
            f"augmentation policy the training tasks apply on the fly.")
    if policy["policy"] == "none":
        note += " The policy is `none`: training sees the images unchanged."
    body = "\n".join([
        f"<p>Dataset <b>{_e(meta['dataset'])}</b> ({_e(meta.get('source', ''))}): {_e(shape)} "
        f"images; {_e(splits)}.</p>",
        f'<p class="note">{_e(note)}</p>',
        _img(grid_png, f"training images: as stored, then under the policy {policy['policy']!r}"),
        "<h2>Augmentation policy</h2>",
        f"<pre>{_e(json.dumps(policy, indent=2))}</pre>",
    ])
    return _page(f"AdaNAS data preview: {meta['dataset']}", body)
