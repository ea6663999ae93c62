"""Every example runs in its quick mode and prints what it promises.

Each runs in a fresh process with a fresh kernel cache; the first test of the
module starts those of all the selected tests, as many at a time as there are
cores, and each test checks its example's output."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# test name -> the example and its arguments
RUNS = {
    "test_quickstart": ("quickstart.py",),
    "test_newton_rosenbrock": ("newton_rosenbrock.py", "--quick"),
    "test_layers": ("layers.py", "--quick"),
    "test_molecular_dynamics": ("molecular_dynamics.py", "--quick"),
    "test_taylor": ("taylor.py", "--quick"),
    "test_sympy_model": ("sympy_model.py", "--quick"),
}


def _run(name, tmp_path, *args):
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


@pytest.fixture(scope="module")
def started(request, tmp_path_factory):
    """Test name -> future of its example's stdout, for the selected tests."""
    here = request.node.path
    wanted = [it.originalname for it in request.session.items if it.path == here]
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        ncpu = os.cpu_count() or 1
    with ThreadPoolExecutor(max(1, ncpu)) as pool:
        yield {
            test: pool.submit(_run, RUNS[test][0], tmp_path_factory.mktemp(test), *RUNS[test][1:])
            for test in RUNS
            if test in wanted
        }


@pytest.fixture
def out(started, request):
    """The stdout of this test's example (it ran successfully)."""
    return started[request.node.originalname].result()


def test_quickstart(out):
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


def test_newton_rosenbrock(out):
    line = next(ln for ln in out.splitlines() if ln.startswith("jitgrad derivatives:"))
    assert float(line.rsplit("=", 1)[1]) < 1e-8  # exact derivatives reach x = 1


def test_layers(out):
    first, last = (float(v) for v in out.split("loss", 1)[1].split("after")[0].split("->"))
    assert last < 1e-3 * first


def test_molecular_dynamics(out):
    assert float(out.rsplit("drift", 1)[1]) < 1e-3  # velocity Verlet conserves energy


def test_taylor(out):
    agree = float(out.split("agree with SymPy to", 1)[1].split()[0])
    assert agree < 1e-12
    assert "\\sin" in out  # the LaTeX line


def test_sympy_model(out):
    assert float(out.split("agree to", 1)[1].split(";")[0]) < 1e-12
