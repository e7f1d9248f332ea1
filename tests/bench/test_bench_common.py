"""The helpers of bench/_common.py: percentiles, tables, doc sections, SVG chart, CPU window."""

from __future__ import annotations

import importlib.util
import math
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

_PATH = Path(__file__).resolve().parents[2] / "bench" / "_common.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_common_under_test", _PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bc = _load()
SVG = "{http://www.w3.org/2000/svg}"


def test_percentile_interpolates_and_ignores_order() -> None:
    values = [40.0, 10.0, 30.0, 20.0]
    assert bc.percentile(values, 0) == 10.0
    assert bc.percentile(values, 100) == 40.0
    assert bc.percentile(values, 50) == pytest.approx(25.0)
    assert bc.percentile(list(range(1, 101)), 95) == pytest.approx(95.05)
    assert bc.percentile([7.0], 95) == 7.0
    assert math.isnan(bc.percentile([], 50))
    with pytest.raises(ValueError):
        bc.percentile(values, 101)


def test_summarize() -> None:
    s = bc.summarize([5.0, 1.0, 3.0])
    assert (s.count, s.median, s.minimum, s.maximum) == (3, 3.0, 1.0, 5.0)
    assert s.p95 == pytest.approx(4.8)
    assert bc.summarize([]).count == 0
    assert bc.fmt(math.nan) == "n/a" and bc.fmt(None) == "n/a" and bc.fmt(2.345, 2) == "2.35"


def test_markdown_table_shape_and_escaping() -> None:
    text = bc.markdown_table(["a", "b"], [["1", "x|y"], ["2", "z"]])
    lines = text.strip().splitlines()
    assert lines[0] == "| a | b |"
    assert lines[1].count("---") == 2
    assert lines[2] == "| 1 | x\\|y |"
    assert len(lines) == 4
    with pytest.raises(ValueError):
        bc.markdown_table(["a", "b"], [["only one"]])


DOC = """# Benchmarks

Intro.

## Render (bench/render.py)

old table

### details
old details

## vs Chromium (bench/vs_chromium.py)

chromium numbers
"""


def test_replace_section_keeps_the_other_sections() -> None:
    out = bc.replace_section(DOC, "## Render (bench/render.py)", "new table\n")
    assert "old table" not in out and "old details" not in out
    assert "new table" in out
    assert out.startswith("# Benchmarks\n\nIntro.\n\n## Render (bench/render.py)\n\nnew table\n")
    assert out.endswith("## vs Chromium (bench/vs_chromium.py)\n\nchromium numbers\n")
    # idempotent: running the bench twice gives one section
    again = bc.replace_section(out, "## Render (bench/render.py)", "new table\n")
    assert again == out


def test_replace_section_appends_when_missing() -> None:
    out = bc.replace_section("# Benchmarks\n\nIntro.\n", "## Other", "body")
    assert out == "# Benchmarks\n\nIntro.\n\n## Other\n\nbody\n"
    with pytest.raises(ValueError):
        bc.replace_section("", "not a heading", "body")


def test_write_section_creates_then_updates(tmp_path: Path) -> None:
    path = tmp_path / "benchmarks.md"
    bc.write_section(path, "## Render (bench/render.py)", "first")
    bc.write_section(path, "## vs Chromium", "chromium")
    bc.write_section(path, "## Render (bench/render.py)", "second")
    text = path.read_text()
    assert text.startswith("# Benchmarks\n")
    assert "first" not in text and "second" in text and "chromium" in text
    assert text.index("second") < text.index("chromium")


def test_svg_chart_is_valid_xml_with_one_line_per_series_and_gaps() -> None:
    svg = bc.svg_line_chart(
        "CPU <& test>",
        ["N=1", "N=2", "N=4"],
        [
            bc.Series("kiosk", [10.0, 20.0, 40.0]),
            bc.Series("decode", [1.0, None, 4.0], dashed=True),
        ],
        y_label="% of one core",
    )
    root = ET.fromstring(svg)
    polylines = root.findall(f"{SVG}polyline")
    # "decode" has a gap in the middle: two single points, no line through the gap
    assert len(polylines) == 1
    assert len(polylines[0].get("points", "").split()) == 3
    assert len(root.findall(f"{SVG}circle")) == 5
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "CPU <& test>" in texts and "kiosk" in texts and "decode" in texts
    # the highest value sits inside the plot, at or below the top of the y axis
    ys = [float(p.split(",")[1]) for p in polylines[0].get("points", "").split()]
    assert min(ys) >= 36


def test_cpu_window_sees_busy_work_and_not_sleep() -> None:
    w = bc.CpuWindow()
    w.start()
    time.sleep(0.3)
    idle = w.stop()
    w.start()
    end = time.process_time() + 0.3
    x = 0
    while time.process_time() < end:  # bounded by CPU time
        x += 1
    busy = w.stop()
    assert idle.cpu_s < 0.1
    assert busy.cpu_s >= 0.25
    assert busy.percent > idle.percent
    mem = bc.memory_of()
    assert mem.rss > 1_000_000


def test_subsection_extracts_one_section() -> None:
    render = bc.subsection(DOC, "## Render (bench/render.py)")
    assert render.startswith("## Render (bench/render.py)\n")
    assert "old details" in render and "chromium" not in render
    assert bc.subsection(render, "### details") == "### details\nold details\n"
    assert bc.subsection(DOC, "## Missing") == ""
