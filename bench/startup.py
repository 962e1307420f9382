"""Start-up: from spawning `python main.py` to the main window's first paint, on a seeded SQLite database.

Target (issue 2): median <= 1.0 s. Each run is a fresh process (offscreen), with its own settings and log folders.
Run: .venv/bin/python bench/startup.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from bench._report import machine, report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RUNS = 12


def main() -> None:
    print(machine())
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=f"{folder}/config",
                   XDG_DATA_HOME=f"{folder}/data", XDG_STATE_HOME=f"{folder}/state", XDG_CACHE_HOME=f"{folder}/cache")
        url = f"sqlite:///{folder}/startup.db"
        subprocess.run([sys.executable, "main.py", "seed-demo", "--db", url], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        env["ICC_EXIT_AFTER_FIRST_PAINT"] = "1"
        samples = []
        for run in range(RUNS):
            start = time.perf_counter()
            process = subprocess.Popen([sys.executable, "main.py", "--db", url, "--no-demo-feed"], cwd=ROOT, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith("first-paint"):
                    if run:  # the first run warms the OS file cache
                        samples.append((time.perf_counter() - start) * 1000)
                    break
            else:
                raise SystemExit(f"the console exited without painting (status {process.wait()})")
            process.wait(timeout=30)
    report("startup.first_paint_ms", samples, target="p50<=1000", limit=1000, stat="p50")


if __name__ == "__main__":
    main()
