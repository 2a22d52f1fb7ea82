"""The leaderboard page in a real headless browser (Debian's ``chromium``): it renders, both tasks
are shown, and clicking a column head sorts the rows (under the page's own Content-Security-Policy).

A probe script is added to a copy of the page (its hash joins the page's CSP, so the page's own
script still runs only because its hash is right); it clicks column heads with ``.click()`` and
writes the row orders into the DOM, which ``--dump-dom`` prints. A page whose sort code is broken
must fail the same check (the negative control below).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from euromine_hf.hub import leaderboard as lb
from euromine_hf.hub.leaderboard import render_html

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PROBE = """
(function () {
  function order(id, col) {
    var rows = document.querySelectorAll('#' + id + ' tbody tr');
    return Array.prototype.map.call(rows, function (r) { return r.cells[col].getAttribute('data-value') || r.cells[col].textContent.trim(); });
  }
  function click(id, key) { document.querySelector('#' + id + ' th[data-key="' + key + '"] button').click(); }
  function colIndex(id, key) {
    var heads = document.querySelectorAll('#' + id + ' thead th');
    for (var i = 0; i < heads.length; i++) { if (heads[i].getAttribute('data-key') === key) { return i; } }
    return -1;
  }
  var out = {tables: Array.prototype.map.call(document.querySelectorAll('table.board'), function (t) { return t.getAttribute('data-task'); })};
  var gca = colIndex('board-mapping', 'GCA-TIoU');
  out.initial = order('board-mapping', 1);
  click('board-mapping', 'GCA-TIoU');
  out.gcaFirst = order('board-mapping', gca);
  out.gcaFirstSort = document.querySelector('#board-mapping th[data-key="GCA-TIoU"]').getAttribute('aria-sort');
  click('board-mapping', 'GCA-TIoU');
  out.gcaSecond = order('board-mapping', gca);
  click('board-change_detection', 'model');
  out.cdModels = order('board-change_detection', 1);
  var pre = document.createElement('pre');
  pre.id = 'probe-result';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
"""


def _rows():
    rows = [
        lb.make_row("mapping", "Zeta net", "local", {"OF1": 0.71, "GCA-TIoU": 0.40, "LCA-TIoU": 0.5}),
        lb.make_row("mapping", "alpha <b>net</b>", "local", {"OF1": 0.65, "GCA-TIoU": 0.62}),
        lb.make_row("mapping", "Mid", "model card", {"OF1": 0.68, "GCA-TIoU": None}),
        lb.make_row("change_detection", "BIT mine", "local", {"OF1": 0.4}),
        lb.make_row("change_detection", "a2net mine", "local", {"OF1": 0.3}),
    ]
    return lb.rank_rows(rows + lb.paper_rows("mapping") + lb.paper_rows("change_detection"))


def _with_probe(page: str) -> str:
    digest = base64.b64encode(hashlib.sha256(PROBE.encode()).digest()).decode()
    page, n = re.subn(r"(script-src 'sha256-[^']+')", rf"\1 'sha256-{digest}'", page)
    assert n == 1, "the page has no script-src hash in its CSP"
    return page.replace("</body>", f"<script>{PROBE}</script>\n</body>")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
           f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _probe(tmp_path: Path, page: str) -> dict:
    path = tmp_path / "probe.html"
    path.write_text(_with_probe(page), encoding="utf-8")
    done = _chromium(tmp_path, "--dump-dom", path.as_uri())
    match = re.search(r'<pre id="probe-result">(.*?)</pre>', done.stdout, flags=re.DOTALL)
    assert match, f"probe did not run; chromium said:\n{done.stderr[-2000:]}"
    return json.loads(html.unescape(match.group(1)))


def _check_sorting(result: dict, rows) -> None:
    assert result["tables"] == ["mapping", "change_detection"]
    mapping = [r for r in rows if r["task"] == "mapping"]
    assert result["initial"][:3] == [r["model"] for r in mapping[:3]]
    gca = [r["scores"]["GCA-TIoU"] for r in mapping]
    present = sorted((v for v in gca if v is not None), reverse=True)
    first = [float(v) if v not in ("", "–") else None for v in result["gcaFirst"]]
    assert first == present + [None] * (len(gca) - len(present)), "first click: highest GCA-TIoU first, missing last"
    assert result["gcaFirstSort"] == "descending"
    second = [float(v) if v not in ("", "–") else None for v in result["gcaSecond"]]
    assert second == sorted(present) + [None] * (len(gca) - len(present)), "second click: ascending"
    names = [r["model"] for r in rows if r["task"] == "change_detection"]
    assert result["cdModels"] == sorted(names, key=str.lower), "text column: case-insensitive A-Z"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium); the browser check needs it")
def test_page_renders_shows_both_tasks_and_sorts_on_click(tmp_path):
    rows = _rows()
    paths = lb.write_outputs(tmp_path / "site", rows)
    page = paths["html"].read_text(encoding="utf-8")
    result = _probe(tmp_path, page)
    _check_sorting(result, rows)

    # the page itself renders in the browser: DOM with both tables, the escaped name, a screenshot
    dom = _chromium(tmp_path, "--dump-dom", paths["html"].as_uri()).stdout
    assert 'id="board-mapping"' in dom and 'id="board-change_detection"' in dom
    assert "alpha &lt;b&gt;net&lt;/b&gt;" in dom and "paper (real EuroMineNet), Table 5" in dom
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,1000", "--hide-scrollbars", paths["html"].as_uri())
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (1000, 1400) and pixels.std() > 5  # text and rules, not a blank page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium); the browser check needs it")
def test_the_check_fails_when_the_sort_code_is_broken(tmp_path, monkeypatch):
    rows = _rows()
    broken = lb.SORT_JS.replace("rows.forEach(function (row) { body.appendChild(row); });", "")
    assert broken != lb.SORT_JS
    monkeypatch.setattr(render_html, "SORT_JS", broken)  # what to_html reads
    result = _probe(tmp_path, lb.to_html(rows))
    with pytest.raises(AssertionError, match="first click"):
        _check_sorting(result, rows)
