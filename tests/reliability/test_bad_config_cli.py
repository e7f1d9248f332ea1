"""Bad configuration files through the real ``kiosk check-config`` command (child processes).

tests/test_config.py already covers ≈145 invalid inputs in-process (see docs/reliability.md);
here the files a broken SD card or a careless edit produce go through the console entry:
each must end as exactly one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from kiosk.testing.reliability import REPO


def _make(tmp: Path, kind: str) -> Path:
    path = tmp / f"{kind}.yaml"
    if kind == "directory":
        path.mkdir()
    elif kind == "unreadable":
        path.write_text("server: {url: 'http://127.0.0.1:1', secret: x}\nsession: {id: Room}\n")
        path.chmod(0)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "whitespace":
        path.write_bytes(b"  \n\t\n\n")
    elif kind == "binary":
        path.write_bytes(bytes(range(256)) * 4)
    elif kind == "invalid-utf8":
        path.write_bytes(b'server:\n  url: "http://\xff\xfe/"\n')
    elif kind == "yaml-syntax":
        path.write_text("server: {url: [\n  session: ]]\n")
    elif kind == "json-array":
        path.write_text('["server", "session"]\n')
    elif kind == "scalar":
        path.write_text("just some words\n")
    elif kind == "ini-file":
        path.write_text("[server]\nurl = http://127.0.0.1:4443\n")
    elif kind == "nul-bytes":
        path.write_bytes(b"server:\x00\x00\n")
    elif kind == "missing":
        pass
    elif kind == "through-a-file":
        (tmp / "plain").write_text("x")
        path = tmp / "plain" / "config.yaml"
    return path


KINDS = [
    "directory",
    "unreadable",
    "empty",
    "whitespace",
    "binary",
    "invalid-utf8",
    "yaml-syntax",
    "json-array",
    "scalar",
    "ini-file",
    "nul-bytes",
    "missing",
    "through-a-file",
]


async def _check_config(path: Path) -> tuple[int, str, str]:
    env = dict(os.environ, KIOSK_OPENVIDU_SECRET="")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kiosk.cli",
        "check-config",
        str(path),
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def test_every_bad_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    paths = {kind: _make(tmp_path, kind) for kind in KINDS}
    results = await asyncio.gather(*(_check_config(p) for p in paths.values()))
    report = []
    for (kind, path), (code, out, err) in zip(paths.items(), results, strict=True):
        lines = err.splitlines()
        report.append(f"{kind}: exit {code}: {err.strip()!r}")
        if kind == "unreadable" and os.geteuid() == 0:
            # As root a mode-000 file is readable (it is a valid file then); unreadable as a
            # non-root user is covered here when the suite runs unprivileged (as in CI).
            assert code in (0, 2) and "Traceback" not in err, (kind, code, err)
            continue
        assert code == 2, (kind, code, out, err)
        assert len(lines) == 1, (kind, err)
        assert "Traceback" not in err and out == "", (kind, out, err)
        assert str(path) in lines[0] or path.name in lines[0], (kind, lines[0])
    print("\n".join(report))
