"""Draw RSS over time from soak CSVs (``soak.py --csv``) into one SVG chart.

    .venv/bin/python bench/reliability/plot_rss.py OUT.svg LABEL=FILE.csv [LABEL=FILE.csv ...]

Each CSV's ``rss_mib`` column is averaged per minute (``t_s``), one line per file.
"""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import Series, svg_line_chart


def per_minute(path: Path) -> dict[int, float]:
    buckets: dict[int, list[float]] = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            buckets.setdefault(int(float(row["t_s"]) // 60), []).append(float(row["rss_mib"]))
    return {m: statistics.fmean(v) for m, v in buckets.items()}


def main(argv: list[str]) -> None:
    out, pairs = Path(argv[0]), [a.split("=", 1) for a in argv[1:]]
    curves = {label: per_minute(Path(path)) for label, path in pairs}
    last = max(max(c) for c in curves.values())
    minutes = list(range(last + 1))
    series = [Series(label, [c.get(m) for m in minutes]) for label, c in curves.items()]
    out.write_text(
        svg_line_chart(
            "Kiosk RSS over time (per-minute mean)",
            [str(m) if m % 5 == 0 else "" for m in minutes],
            series,
            y_label="RSS MiB",
            width=760,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
