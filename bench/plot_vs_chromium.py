"""Draw docs/benchmarks-vs-chromium.svg from the results table in docs/benchmarks.md.

    python bench/plot_vs_chromium.py

bench/vs_chromium.py writes the table; this turns its "marker" rows into one chart of the
kiosk/Chromium ratios per K (CPU, memory, latency, join time), where 1.0 = as much as Chromium.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from _common import Series, svg_line_chart

DOC = Path("docs/benchmarks.md")
OUT = Path("docs/benchmarks-vs-chromium.svg")


def ratios(markdown: str) -> dict[int, list[float | None]]:
    """K → [cpu, memory, latency median, join] kiosk/Chromium ratios of the 'marker' rows."""
    section = markdown.split("## vs Chromium", 1)[-1]
    out: dict[int, list[float | None]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 9 or cells[1] != "marker" or cells[2] != "kiosk/Chromium":
            continue

        def num(text: str) -> float | None:
            m = re.match(r"[0-9.]+", text)
            return float(m.group(0)) if m else None

        out[int(cells[0])] = [num(cells[3]), num(cells[4]), num(cells[7]), num(cells[8])]
    return out


def main() -> int:
    data = ratios(DOC.read_text())
    if not data:
        print("no 'marker' kiosk/Chromium rows in docs/benchmarks.md: run bench/vs_chromium.py")
        return 1
    ks = sorted(data)
    names = ["CPU", "memory (PSS)", "latency median", "join time"]
    series = [Series(name, [data[k][i] for k in ks]) for i, name in enumerate(names)]
    series.append(Series("Chromium = 1.0", [1.0 for _ in ks], dashed=True))
    svg = svg_line_chart(
        "kiosk / Chromium, same run (lower is better)",
        [f"K={k}" for k in ks],
        series,
        y_label="ratio",
    )
    OUT.write_text(svg)
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
