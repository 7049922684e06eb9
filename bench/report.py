"""Shared by the benchmarks: machine description and section-wise updates of RESULTS.md."""

from __future__ import annotations

import platform
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = "# Benchmark results\n"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_facts(command: str) -> list[str]:
    """The lines every section starts with: command, date, interpreter, CPU."""
    return [
        f"- Command: `{command}`",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- `python --version`: Python {platform.python_version()} ({platform.python_implementation().lower()})",
        f"- CPU: {cpu_model()}, 2 cores shared with other jobs: expect noise",
    ]


def write_section(heading: str, section: str, path: Path = RESULTS) -> None:
    """Replace only the section under `heading` ("## ..."), so the others survive."""
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    start = text.find(heading)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        rest = "" if end < 0 else text[end + 1 :]
        text = text[:start] + section + ("\n" + rest if rest else "")
    path.write_text(text, encoding="utf-8")
