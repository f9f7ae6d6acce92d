"""What every benchmark records about the machine and the code it ran on."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8",
                                                    errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def machine_facts(*watched: str) -> dict[str, Any]:
    """CPU, memory, versions and the commit; ``watched`` paths count for ``git_dirty``."""
    import duckdb
    import psutil
    import pyarrow

    dirty = git("status", "--porcelain", "--", "src", *watched)
    memory = psutil.virtual_memory()
    return {"cpu": cpu_model(), "cores": os.cpu_count(),
            "ram_gb": round(memory.total / 2**30, 1),
            "available_gb_at_start": round(memory.available / 2**30, 1),
            "os": platform.platform(), "python": platform.python_version(),
            "duckdb": duckdb.__version__, "pyarrow": pyarrow.__version__,
            "git_commit": git("rev-parse", "--short=12", "HEAD"),
            "git_dirty": bool(dirty), "git_dirty_files": dirty.splitlines()}
