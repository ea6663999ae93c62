"""Run a snippet of Python in a fresh interpreter and read back its result.

Used by the tests that need a new process: warm starts from the disk cache,
and what a process imports (no Numba for AOT and direct kernels)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_child(code: str, cache_dir: str, *args: str) -> dict:
    """Run ``code`` with ``args`` in a fresh interpreter using ``cache_dir`` as the
    kernel cache (and jitgrad's default for ``aot``); the dict it printed on a
    line ``RESULT <json>``."""
    env = dict(os.environ, JITGRAD_CACHE_DIR=cache_dir, PYTHONPATH=ROOT)
    env.pop("JITGRAD_AOT", None)
    p = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=300
    )
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise AssertionError(f"child failed:\n{p.stdout}\n{p.stderr}")
