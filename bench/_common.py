"""Helpers shared by the benchmarks under ``bench/`` (pure, apart from reading /proc via psutil).

* :func:`emit` — one ``BENCH {json}`` line on stdout, how a bench's child processes report;
* :class:`CpuWindow` — CPU time of one process (all its threads) over a window, via psutil;
* :func:`memory_of` — RSS and PSS (Linux ``smaps_rollup``; PSS is ``None`` where unavailable);
* :func:`percentile` / :func:`summarize` — linear-interpolated percentiles;
* :func:`markdown_table` — a GitHub markdown table;
* :func:`svg_line_chart` — a small dependency-free SVG line chart (matplotlib is not a
  dependency of the project);
* :func:`replace_section` / :func:`write_section` / :func:`subsection` — keep one
  ``## heading`` section of a markdown file up to date and leave the other sections (other
  benches) alone.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import psutil

# --- child processes ----------------------------------------------------------------------------

PREFIX = "BENCH "  # the lines an orchestrator reads from a bench's child process


def emit(report: Mapping[str, Any]) -> None:
    """One machine-readable line on stdout for the orchestrator: ``BENCH {json}``."""
    print(PREFIX + json.dumps(report), flush=True)


# --- CPU and memory -----------------------------------------------------------------------------


def cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU seconds used so far by ``proc`` (all threads, not its children)."""
    t = proc.cpu_times()
    return float(t.user + t.system)


@dataclass(frozen=True, slots=True)
class CpuSample:
    cpu_s: float  # CPU seconds used in the window
    wall_s: float  # wall-clock length of the window

    @property
    def percent(self) -> float:
        """CPU as % of one core (100 = one core busy all the time)."""
        return 100.0 * self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0


class CpuWindow:
    """Measures the CPU a process uses between :meth:`start` and :meth:`stop`."""

    def __init__(self, pid: int | None = None) -> None:
        self.proc = psutil.Process(pid if pid is not None else os.getpid())
        self._cpu0: float | None = None
        self._wall0 = 0.0

    def start(self) -> None:
        self._cpu0 = cpu_seconds(self.proc)
        self._wall0 = time.monotonic()

    def stop(self) -> CpuSample:
        if self._cpu0 is None:
            raise RuntimeError("CpuWindow.stop() before start()")
        return CpuSample(cpu_seconds(self.proc) - self._cpu0, time.monotonic() - self._wall0)


@dataclass(frozen=True, slots=True)
class Memory:
    rss: int  # bytes
    pss: int | None  # bytes; None where the kernel does not tell


def memory_of(pid: int | None = None) -> Memory:
    proc = psutil.Process(pid if pid is not None else os.getpid())
    try:
        full = proc.memory_full_info()
        return Memory(int(full.rss), int(getattr(full, "pss", 0)) or None)
    except (psutil.AccessDenied, OSError):
        return Memory(int(proc.memory_info().rss), None)


# --- statistics ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation; NaN for no values."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile: q must be within 0..100, got {q}")
    if not values:
        return math.nan
    data = sorted(float(v) for v in values)
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    median: float
    p95: float
    minimum: float
    maximum: float


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    return Summary(
        len(values),
        percentile(values, 50),
        percentile(values, 95),
        float(min(values)),
        float(max(values)),
    )


def fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    """A table cell: ``n/a`` for None/NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}{unit}"


# --- markdown -----------------------------------------------------------------------------------


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table (``|`` in cells is escaped)."""
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"markdown_table: row has {len(row)} cells, expected {len(headers)}")

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    out = [line(headers), "|" + "|".join(" --- " for _ in headers) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out) + "\n"


def replace_section(document: str, heading: str, body: str) -> str:
    """``document`` with the section under ``heading`` (a ``## ...`` line) replaced by ``body``.

    The section runs to the next heading of the same or a higher level (or the end). A missing
    section is appended at the end; every other section is kept as it is.
    """
    level = len(heading) - len(heading.lstrip("#"))
    if level == 0 or heading[level : level + 1] != " ":
        raise ValueError(f"replace_section: not a markdown heading: {heading!r}")
    section = heading.rstrip() + "\n\n" + body.strip("\n") + "\n"
    lines = document.splitlines(keepends=True)
    bounds = _section_bounds(lines, heading, level)
    if bounds is None:
        head = document.rstrip("\n")
        return (head + "\n\n" if head else "") + section
    start, end = bounds
    before = "".join(lines[:start])
    after = "".join(lines[end:])
    return before + section + ("\n" + after if after else "")


def _section_bounds(lines: list[str], heading: str, level: int) -> tuple[int, int] | None:
    """Line indexes ``[start, end)`` of the section under ``heading`` (a heading of ``level``
    ``#``s): to the next heading of the same or a higher level, or the end; None if absent."""
    start = next((i for i, ln in enumerate(lines) if ln.rstrip() == heading.rstrip()), None)
    if start is None:
        return None
    for i in range(start + 1, len(lines)):
        stripped = lines[i].lstrip("#")
        hashes = len(lines[i]) - len(stripped)
        if 0 < hashes <= level and stripped.startswith(" "):
            return start, i
    return start, len(lines)


def subsection(document: str, heading: str) -> str:
    """The text of the section under ``heading`` (heading line included, up to the next heading
    of the same or a higher level), or "" when there is none."""
    level = len(heading) - len(heading.lstrip("#"))
    if level == 0:
        return ""
    lines = document.splitlines(keepends=True)
    bounds = _section_bounds(lines, heading, level)
    if bounds is None:
        return ""
    start, end = bounds
    return "".join(lines[start:end]).rstrip() + "\n"


def write_section(path: Path, heading: str, body: str, *, title: str = "# Benchmarks") -> None:
    """Create ``path`` (with ``title``) if needed and replace/append the section ``heading``."""
    document = path.read_text(encoding="utf-8") if path.exists() else title + "\n"
    path.write_text(replace_section(document, heading, body), encoding="utf-8")


# --- SVG chart ----------------------------------------------------------------------------------

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    values: Sequence[float | None]  # one per x label; None/NaN leaves a gap
    dashed: bool = False


def _nice_max(value: float) -> float:
    if value <= 0 or math.isnan(value):
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * magnitude:
            return step * magnitude
    return 10.0 * magnitude


def svg_line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    y_label: str = "",
    width: int = 640,
    height: int = 360,
) -> str:
    """An SVG line chart: categories on x (evenly spaced), one polyline per series."""
    if not x_labels:
        raise ValueError("svg_line_chart: no x values")
    left, right, top, bottom = 64, 170, 36, 48
    pw, ph = width - left - right, height - top - bottom
    finite = [
        float(v) for s in series for v in s.values if v is not None and not math.isnan(float(v))
    ]
    y_max = _nice_max(max(finite, default=1.0))

    def x_at(i: int) -> float:
        return left + (pw * i / (len(x_labels) - 1) if len(x_labels) > 1 else pw / 2)

    def y_at(v: float) -> float:
        return top + ph * (1 - v / y_max)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    for k in range(6):
        v = y_max * k / 5
        y = y_at(v)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
    for i, lab in enumerate(x_labels):
        x = x_at(i)
        out.append(
            f'<text x="{x:.1f}" y="{top + ph + 18}" text-anchor="middle">{escape(lab)}</text>'
        )
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    if y_label:
        out.append(
            f'<text x="16" y="{top + ph / 2:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 16 {top + ph / 2:.1f})">{escape(y_label)}</text>'
        )
    for n, s in enumerate(series):
        colour = _PALETTE[n % len(_PALETTE)]
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        runs: list[list[tuple[float, float]]] = [[]]
        for i, value in enumerate(s.values):
            if value is None or math.isnan(float(value)):
                runs.append([])
                continue
            runs[-1].append((x_at(i), y_at(float(value))))
        for run in runs:
            if len(run) >= 2:
                pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                out.append(
                    f'<polyline points="{pts}" fill="none" stroke="{colour}" '
                    f'stroke-width="2"{dash}/>'
                )
            for x, y in run:
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
        ly = top + 14 + 18 * n
        lx = left + pw + 12
        out.append(
            f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 20}" y2="{ly - 4}" stroke="{colour}" '
            f'stroke-width="2"{dash}/>'
        )
        out.append(f'<text x="{lx + 26}" y="{ly}">{escape(s.label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
