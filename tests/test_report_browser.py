"""The HTML report opens offline in headless Chromium: every image decodes and the key tables are there.

Skips only when no chromium binary is installed (CI installs Debian's `chromium`). A screenshot is kept under
test-artifacts/report.png.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.report.html import build_report
from tests.test_plots import FIT
from tests.test_report import _table

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
PROBE = """<script>window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var out = document.createElement('pre'); out.id = 'probe';
  out.textContent = JSON.stringify({images: imgs.length, loaded: ok,
    tables: Array.from(document.querySelectorAll('table[id]')).map(function (t) { return t.id; })});
  document.body.appendChild(out);
});</script>"""
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--virtual-time-budget=10000"]


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (CI installs it with apt-get install chromium)")
def test_report_renders_offline_in_chromium(tmp_path):
    page = build_report(_table().assign(N=lambda t: t["N_total"]), FIT, title="browser check")
    report = tmp_path / "report.html"
    report.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _chromium(["--dump-dom", report.as_uri()], tmp_path / "profile").stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom)
    assert found, "the probe script did not run"
    probe = json.loads(found.group(1).replace("&quot;", '"'))
    assert probe["images"] >= 4 and probe["loaded"] == probe["images"]
    assert {"runs-table", "fit-table", "comparison-table", "frontier-table", "provenance-table"} <= set(probe["tables"])
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    _chromium([f"--screenshot={shot}", "--window-size=1280,2400", report.as_uri()], tmp_path / "profile2")
    assert shot.is_file() and shot.stat().st_size > 10_000
