"""A ``tadapt detect`` run as one self-contained, offline HTML file.

The report holds a header (checkpoint, settings, counts), the files that failed, a table of
every detection that sorts on a header click (a few lines of inline JavaScript) and each
video's timeline PNG inlined as a base64 ``data:`` URI. Nothing is fetched from the network
(no CDN, no external CSS or JavaScript), so the file can be mailed or opened offline. Built
with the standard library (``html.escape``, ``base64``): the page is small enough not to need
a template engine.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from tadapt.inference.result import VideoDetections

__all__ = ["write_html_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
#detections th { cursor: pointer; background: #eef; user-select: none; }
#detections th[data-dir="asc"]::after { content: " \\25B2"; }
#detections th[data-dir="desc"]::after { content: " \\25BC"; }
.settings th { background: #f4f4f4; }
.failures li { color: #a00; font-family: monospace; }
figure { margin: 0.6em 0 1.2em; } figcaption { font-weight: bold; margin-bottom: 0.3em; }
img { max-width: 100%; border: 1px solid #ddd; }
"""

# sorts the detections table on a header click: numbers by value, text alphabetically;
# a second click on the same header reverses the order
_SCRIPT = """
document.querySelectorAll("#detections th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var body = document.querySelector("#detections tbody");
    var asc = th.getAttribute("data-dir") !== "asc";
    document.querySelectorAll("#detections th").forEach(function (h) {
      h.removeAttribute("data-dir");
    });
    th.setAttribute("data-dir", asc ? "asc" : "desc");
    var numeric = th.hasAttribute("data-numeric");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute("data-value") || a.cells[col].textContent;
      var y = b.cells[col].getAttribute("data-value") || b.cells[col].textContent;
      var order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return asc ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""

# (header, sorts as a number)
_COLUMNS: tuple[tuple[str, bool], ...] = (
    ("video", False),
    ("label", False),
    ("start", True),
    ("end", True),
    ("duration", True),
    ("score", True),
)


def _mm_ss(seconds: float) -> str:
    """``mm:ss.s`` for the table (the exact seconds sort the column)."""
    minutes, rest = divmod(max(seconds, 0.0), 60.0)
    return f"{int(minutes):02d}:{rest:04.1f}"


def _table(videos: Sequence[VideoDetections]) -> str:
    """The detections table: a row per detection, numeric cells carrying their exact value."""
    head = "".join(
        f"<th{' data-numeric' if numeric else ''}>{name}</th>" for name, numeric in _COLUMNS
    )
    rows = []
    for found in videos:
        vid = html.escape(found.video_id)
        for start, end, label, score in found.rows():
            cells = [
                f"<td>{vid}</td>",
                f"<td>{html.escape(label)}</td>",
                f'<td class="num" data-value="{start!r}">{_mm_ss(start)}</td>',
                f'<td class="num" data-value="{end!r}">{_mm_ss(end)}</td>',
                f'<td class="num" data-value="{end - start!r}">{end - start:.2f} s</td>',
                f'<td class="num" data-value="{score!r}">{score:.3f}</td>',
            ]
            rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table id="detections"><thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{chr(10).join(rows)}\n</tbody></table>"
    )


def _timeline(found: VideoDetections, png: Path) -> str:
    """The video's timeline, its PNG inlined as a data URI."""
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    vid = html.escape(found.video_id)
    duration = f", {found.duration_sec:.1f} s" if found.duration_sec is not None else ""
    caption = f"{vid} ({len(found)} detections{duration})"
    return (
        f'<figure id="timeline-{vid}"><figcaption>{caption}</figcaption>'
        f'<img alt="timeline of {vid}" src="data:image/png;base64,{data}"></figure>'
    )


def _settings(settings: Mapping[str, str]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(key)}</th><td>{html.escape(value)}</td></tr>"
        for key, value in settings.items()
    )
    return f'<table class="settings">{rows}</table>'


def write_html_report(
    path: str | os.PathLike[str],
    videos: Sequence[VideoDetections],
    timelines: Mapping[str, Path],
    *,
    settings: Mapping[str, str],
    failures: Sequence[str] = (),
    total_files: int | None = None,
) -> Path:
    """Write the run's report: one HTML file with everything inlined.

    Args:
        path: the HTML file to write.
        videos: the kept detections of each video detected, in run order.
        timelines: video id -> its timeline PNG (each video of ``videos`` needs one).
        settings: what the header lists first (checkpoint, thresholds, device...), in order.
        failures: one line per file that failed (the run's failures list).
        total_files: files the run was given (default: videos detected plus failures).

    Returns:
        The path written.
    """
    out = Path(path)
    total = total_files if total_files is not None else len(videos) + len(failures)
    num_detections = sum(len(found) for found in videos)
    counts = (
        f"{total} files, {len(videos)} detected, {len(failures)} failed; "
        f"{num_detections} detections"
    )
    failed = (
        '<ul class="failures">'
        + "".join(f"<li>{html.escape(line)}</li>" for line in failures)
        + "</ul>"
        if failures
        else "<p>none</p>"
    )
    figures = "\n".join(_timeline(found, timelines[found.video_id]) for found in videos)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>tadapt detect: {html.escape(counts)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>tadapt detect</h1>
{_settings({**settings, "counts": counts})}
<h2>Failures</h2>
{failed}
<h2>Detections</h2>
<p>Click a column header to sort by it (again to reverse).</p>
{_table(videos)}
<h2>Timelines</h2>
{figures or "<p>no video detected</p>"}
<script>{_SCRIPT}</script>
</body>
</html>
"""
    out.write_text(page, encoding="utf-8")
    return out
