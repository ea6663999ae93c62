"""The command line: python -m jitgrad diff ... (one test runs it as a subprocess;
the others call its ``main`` in this process, which is what ``python -m jitgrad``
runs, and saves starting an interpreter, NumPy and SymPy per command)."""

import contextlib
import io
import subprocess
import sys

import pytest

from jitgrad.__main__ import main


def run_process(*args):
    p = subprocess.run(
        [sys.executable, "-m", "jitgrad", *args], capture_output=True, text=True, timeout=120
    )
    return p.returncode, p.stdout, p.stderr


def run(*args):
    """``python -m jitgrad *args`` in this process: (exit status, stdout, stderr).
    An exception escaping ``main`` (a traceback in a process) fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(args))
        except SystemExit as e:  # argparse's usage errors
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def test_first_derivatives():
    """In a fresh process: the module entry point, its exit status and streams."""
    rc, out, err = run_process("diff", "x**2*sin(y)", "--wrt", "x", "y")
    assert rc == 0, err
    assert out.splitlines() == ["d/dx = 2*x*sin(y)", "d/dy = x**2*cos(y)"]
    assert err == ""


def test_sympy_spellings_and_xor_power():
    rc, out, err = run("diff", "atan(x) + Abs(y)*x^3 + Max(x, 2) - pi*E", "--wrt", "x")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[-1].startswith("d/dx = ") and "abs(y)" in lines[-1]
    assert "arctan" not in out  # d/dx atan(x) = 1/(x**2 + 1)
    assert all(" = " in line for line in lines)


def test_hessian():
    rc, out, err = run("diff", "x**2*sin(y)", "--wrt", "x", "y", "--hessian")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[-2].startswith("H = [[") and lines[-1].endswith("]]")
    text = "\n".join(lines)
    assert "2*x*cos(y)" in text and "-x**2*" in text


def test_order():
    rc, out, err = run("diff", "x**4 + x*y", "--wrt", "x", "--order", "2")
    assert rc == 0, err
    assert out.splitlines() == ["d^2/dx^2 = 12*x**2"]


def test_latex():
    rc, out, err = run("diff", "x**2*sin(y)", "--wrt", "x", "--latex")
    assert rc == 0, err
    assert out.splitlines() == ["\\frac{\\partial f}{\\partial x} = 2 x \\sin{\\left(y \\right)}"]
    rc, out, err = run("diff", "x*y", "--wrt", "x", "y", "--hessian", "--latex")
    assert rc == 0, err
    assert out.startswith("H = \\left[\\begin{matrix}0 & 1\\\\1 & 0\\end{matrix}\\right]")


@pytest.mark.parametrize(
    "expr, args, message",
    [
        ("__import__('os').system('id')", ["--wrt", "x"], "unsupported syntax"),
        ("foo(x)", ["--wrt", "x"], "unknown function 'foo'"),
        ("x +* 2", ["--wrt", "x"], "syntax error"),
        ("x*y", ["--wrt", "z"], "'z' does not appear in the expression"),
        ("x.real", ["--wrt", "x"], "attribute access"),
        ("x[0]", ["--wrt", "x"], "subscript"),
        ("'x'", ["--wrt", "x"], "the constant 'x'"),
        ("sin(x, y)", ["--wrt", "x"], "sin() takes 1 argument"),
        ("sin(x=1)", ["--wrt", "x"], "keyword"),
        ("x", ["--wrt", "x", "--order", "0"], "--order must be between 1 and 20"),
        ("x", ["--wrt", "x", "--order", "2", "--hessian"], "not allowed with"),
        ("x", [], "the following arguments are required: --wrt"),
    ],
)
def test_refusals(expr, args, message):
    rc, out, err = run("diff", expr, *args)
    assert rc == 2
    assert out == ""
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert message in err, err


def test_no_code_runs(tmp_path):
    marker = tmp_path / "pwned"
    # In a fresh process: a refusal's exit status reaches the shell.
    rc, out, err = run_process(
        "diff", f"__import__('pathlib').Path('{marker}').touch()", "--wrt", "x"
    )
    assert rc == 2 and not marker.exists()
    assert out == "" and len(err.strip().splitlines()) == 1, err
    rc, _, err = run("diff", "exec('1') + x", "--wrt", "x")
    assert rc == 2 and "unknown function 'exec'" in err
