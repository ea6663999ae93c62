"""Every example runs in its quick mode and prints what it promises."""

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(name, tmp_path, *args):
    env = dict(os.environ, JITGRAD_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_quickstart(tmp_path):
    out = run("quickstart.py", tmp_path)
    assert "grad f = 2*x + sin(x) + x*cos(x)" in out
    # The README shows the example's code and its output: both must be current.
    readme = (EXAMPLES.parent / "README.md").read_text()
    shown = readme.split("Its output:", 1)[1].split("```", 2)[1].strip("\n")
    assert shown == out.strip("\n")
    code = (EXAMPLES / "quickstart.py").read_text()
    block = readme.split("```python", 1)[1].split("```", 1)[0]
    for line in block.strip().splitlines():
        statement = line.split("#")[0].strip()
        assert statement in code, f"README line not in examples/quickstart.py: {line!r}"


def test_newton_rosenbrock(tmp_path):
    out = run("newton_rosenbrock.py", tmp_path, "--quick")
    line = next(ln for ln in out.splitlines() if ln.startswith("jitgrad derivatives:"))
    assert float(line.rsplit("=", 1)[1]) < 1e-8  # exact derivatives reach x = 1


def test_layers(tmp_path):
    out = run("layers.py", tmp_path, "--quick")
    first, last = (float(v) for v in out.split("loss", 1)[1].split("after")[0].split("->"))
    assert last < 1e-3 * first


def test_molecular_dynamics(tmp_path):
    out = run("molecular_dynamics.py", tmp_path, "--quick")
    assert float(out.rsplit("drift", 1)[1]) < 1e-3  # velocity Verlet conserves energy


def test_taylor(tmp_path):
    out = run("taylor.py", tmp_path, "--quick")
    agree = float(out.split("agree with SymPy to", 1)[1].split()[0])
    assert agree < 1e-12
    assert "\\sin" in out  # the LaTeX line


def test_sympy_model(tmp_path):
    out = run("sympy_model.py", tmp_path, "--quick")
    assert float(out.split("agree to", 1)[1].split(";")[0]) < 1e-12
