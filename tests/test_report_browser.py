"""The HTML report in a real headless browser (Debian's Chromium): every plot decodes and shows.

The set-up installs Chromium with `apt-get install -y chromium` where it is missing and this
runs as root; where that cannot be done the tests are skipped, saying why.
"""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from adanas import report_html
from test_report import fake_report

CHECK = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const shown = images.filter(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0);
  document.body.setAttribute("data-images", images.length + ":" + shown.length);
});
</script>"""


def _install() -> str:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "not root, or no apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    last = ""
    # Without package lists (a fresh machine) the first install finds nothing: update, retry.
    for command in (["apt-get", "install", "-y", "chromium"], ["apt-get", "update"],
                    ["apt-get", "install", "-y", "chromium"]):
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
        except subprocess.TimeoutExpired:
            return f"{' '.join(command)} timed out"
        if command[1] == "install" and out.returncode == 0:
            return ""
        last = ((out.stderr or out.stdout).strip().splitlines() or [f"exit status {out.returncode}"])[-1]
    return last


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        why = _install()
        path = shutil.which("chromium")
        if path is None:
            pytest.skip(f"no Chromium: `apt-get install -y chromium` did not work here ({why})")
    return path


def _browser(chromium: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", *args], capture_output=True, text=True, timeout=120)


def test_every_plot_of_the_report_loads_in_chromium(chromium, tmp_path):
    page = report_html.render_report(fake_report())
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", CHECK + "</body>"))
    out = _browser(chromium, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    found = re.search(r'data-images="(\d+):(\d+)"', out.stdout)
    assert found, out.stderr[-2000:]
    assert found.group(1) == found.group(2) == "5"


def test_a_screenshot_of_the_report_shows_the_plots(chromium, tmp_path):
    from PIL import Image
    page = tmp_path / "report.html"
    page.write_text(report_html.render_report(fake_report()))
    shot = tmp_path / "shot.png"
    out = _browser(chromium, "--window-size=1100,1400", f"--screenshot={shot}", page.as_uri())
    assert shot.exists(), out.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    assert (pixels != 255).any(axis=1).mean() > 0.05       # not a blank page
    # matplotlib's first line colour (#1f77b4), drawn in the error-per-iteration plot only.
    blue = (np.abs(pixels - [31, 119, 180]).sum(axis=1) < 30).sum()
    assert blue > 200
