"""The leaderboard as one self-contained HTML page with sortable columns and a strict CSP."""

from __future__ import annotations

import hashlib
import html
from typing import Any, Mapping, Sequence

from euromine_hf.hub.leaderboard.cells import LOCAL_TRUST, apart_title, column_label, percent, verification_text
from euromine_hf.hub.leaderboard.rows import PAPER_SOURCE
from euromine_hf.hub.leaderboard.tasks import TASKS
from euromine_hf.hub.leaderboard.text import is_link, is_repo_id

SORT_JS = """
(function () {
  function key(cell) {
    var v = cell.getAttribute('data-value');
    if (v === null) { return cell.textContent.trim().toLowerCase(); }
    return v === '' ? null : parseFloat(v);
  }
  function compare(a, b, numeric) {
    if (a === null && b === null) { return 0; }
    if (a === null) { return 1; }
    if (b === null) { return -1; }
    if (numeric) { return a - b; }
    return a < b ? -1 : a > b ? 1 : 0;
  }
  document.querySelectorAll('table.board').forEach(function (table) {
    var heads = table.querySelectorAll('thead th');
    heads.forEach(function (th, index) {
      var button = th.querySelector('button');
      button.addEventListener('click', function () {
        var numeric = th.getAttribute('data-type') === 'number';
        var ascending = th.getAttribute('aria-sort') === 'descending' ||
          (th.getAttribute('aria-sort') !== 'ascending' && !numeric);
        heads.forEach(function (other) { other.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var a = key(r1.cells[index]), b = key(r2.cells[index]);
          if (a === null || b === null) { return compare(a, b, numeric); }
          return ascending ? compare(a, b, numeric) : compare(b, a, numeric);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
"""

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1b1f24; }
table.board { border-collapse: collapse; margin-bottom: 2.5rem; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #d0d7de; padding: 0.3rem 0.55rem; text-align: right; white-space: nowrap; }
th.text, td.text { text-align: left; }
th button { font: inherit; font-weight: 600; background: none; border: 0; cursor: pointer; padding: 0; }
th[aria-sort=ascending] button::after { content: " \\25B2"; }
th[aria-sort=descending] button::after { content: " \\25BC"; }
tr.reference td { color: #57606a; font-style: italic; background: #f6f8fa; }
.note { color: #57606a; max-width: 60rem; }
"""


def _hub_link(repo: str | None, endpoint: str) -> str | None:
    if is_repo_id(repo):
        return f"{endpoint.rstrip('/')}/{repo}"
    return None


def to_html(rows: Sequence[Mapping[str, Any]], tasks: Sequence[str] = tuple(TASKS), endpoint: str = "https://huggingface.co") -> str:
    """A self-contained page: one sortable table per task (click a column head to sort).

    Every text from a submission is escaped; the only script is the page's own, allowed by its
    hash in the Content-Security-Policy, and nothing is loaded from elsewhere.
    """
    esc = html.escape
    script_hash = hashlib.sha256(SORT_JS.encode("utf-8")).digest()
    import base64

    csp = (f"default-src 'none'; script-src 'sha256-{base64.b64encode(script_hash).decode()}'; "
           "style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'")
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp, quote=False)}">',  # our constant: no " in it
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>EuroMineNet leaderboard</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
        "<h1>EuroMineNet leaderboard</h1>",
        '<p class="note">Test split, site protocol, values in %. Click a column head to sort. '
        f"Grey italic rows are reference results from the paper's Tables 4–6 ({esc(PAPER_SOURCE)}); "
        f"submissions scored on a synthetic archive are not comparable with them. {esc(LOCAL_TRUST)}</p>",
    ]
    for task in tasks:
        spec = TASKS[task]
        parts += [f'<section id="{esc(task)}">', f"<h2>{esc(spec.title)} <code>{esc(spec.hub_task_id)}</code>, ranked by {esc(spec.primary)}</h2>",
                  f'<table class="board" id="board-{esc(task)}" data-task="{esc(task)}">', "<thead><tr>"]
        heads = [("Rank", "number", "rank"), ("Model", "text", "model"), ("Source", "text", "source"),
                 ("Verification", "text", "verification"), ("Data", "text", "data")]
        heads += [(column_label(c), "number", c) for c in spec.columns] + [("About", "text", "about")]
        for label, kind, key in heads:
            cls = ' class="text"' if kind == "text" else ""
            parts.append(f'<th scope="col"{cls} data-type="{kind}" data-key="{esc(key)}"><button type="button">{esc(label)}</button></th>')
        parts += ["</tr></thead>", "<tbody>"]
        for r in (r for r in rows if r["task"] == task and not r.get("problems")):
            link = _hub_link(r["model_repo"], endpoint)
            model = esc(r["model"])
            if link:
                model = f'<a href="{esc(link)}" rel="nofollow noopener noreferrer">{model}</a>'
            cls = ' class="reference"' if r["reference"] else ""
            rank = "" if r["rank"] is None else str(r["rank"])
            cells = [f'<td data-value="{rank}">{rank or "ref"}</td>', f'<td class="text">{model}</td>',
                     f'<td class="text">{esc(r["source"])}</td>',
                     f'<td class="text" title="{esc(r.get("sha256") or "")}">{esc(verification_text(r))}</td>',
                     f'<td class="text">{esc(r["data"])}</td>']
            for c in spec.columns:
                v = r["scores"][c]
                cells.append(f'<td data-value="{"" if v is None else repr(float(v))}">{percent(v)}</td>')
            about = [esc(", ".join(r.get("authors") or [])), esc(r.get("description") or "")]
            about += [f'<a href="{esc(u)}" rel="nofollow noopener noreferrer">{esc(u)}</a>' for u in r.get("links") or [] if is_link(u)]
            cells.append(f'<td class="text about">{" — ".join(a for a in about if a)}</td>')
            parts.append(f'<tr{cls} data-model="{esc(r["model"])}">' + "".join(cells) + "</tr>")
        parts += ["</tbody>", "</table>"]
        apart = [r for r in rows if r["task"] == task and r.get("problems")]
        if apart:  # never ranked, never sorted in with the others
            parts += [f"<h3>Not ranked: {esc(apart_title(spec.hub_task_id))}</h3>",
                      f'<table class="rejected" id="rejected-{esc(task)}"><thead><tr><th class="text">Model</th>'
                      '<th class="text">Source</th><th class="text">Verification</th><th class="text">Reason</th></tr></thead><tbody>']
            parts += [f'<tr data-model="{esc(r["model"])}"><td class="text">{esc(r["model"])}</td><td class="text">{esc(r["source"])}</td>'
                      f'<td class="text">{esc(verification_text(r))}</td><td class="text">{esc("; ".join(r["problems"]))}</td></tr>' for r in apart]
            parts += ["</tbody>", "</table>"]
        parts.append("</section>")
    parts += [f"<script>{SORT_JS}</script>", "</body>", "</html>", ""]
    return "\n".join(parts)
