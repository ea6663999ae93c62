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


def test_an_expression_that_starts_with_minus_is_an_expression():
    assert run("diff", "-x**2", "--wrt", "x")[:2] == (0, "d/dx = -2*x\n")
    assert run("diff", "--wrt", "x", "--order", "2", "-x**3")[:2] == (0, "d^2/dx^2 = -6*x\n")
    assert run("diff", "--wrt", "x", "--", "-x")[:2] == (0, "d/dx = -1\n")
    rc, _, err = run("diff", "-x", "--wrt", "x", "--bogus")
    assert rc == 2 and "--bogus" in err


def test_a_number_too_large_for_float64_is_refused_clearly():
    rc, out, err = run("diff", "1" * 401 + "*x", "--wrt", "x")
    assert rc == 2 and out == ""
    assert "(401 digits) is too large for float64" in err


@pytest.mark.parametrize("n", [64, 1000, 10_000])
def test_long_sums_and_polynomials_parse_and_differentiate(n):
    """Python's parser recurses once per '+' (RecursionError past a few thousand
    terms on 3.11+): long flat sums are parsed term by term and summed as a
    balanced tree. Checked against the same sum computed term by term."""
    import math

    import numpy as np

    import jitgrad as jg
    from jitgrad.__main__ import parse_expression

    rng = np.random.default_rng(n)
    coef = rng.uniform(-1, 1, n)
    signs = ["+" if c >= 0 else "-" for c in coef]
    text = "".join(
        f" {s} {float(abs(c))!r}*x**{i % 7}*sin({i}*y)" for i, (s, c) in enumerate(zip(signs, coef))
    )
    if n == 10_000:  # SymPy's power spelling, in a text too long for tokenize
        text = text.replace("**", "^")
    f, names = parse_expression(text)
    x0, y0 = 0.7, -0.3
    # the oracle: the same terms summed by Python (eval of the text itself
    # recurses past Python's limit, as the parser does)
    want = math.fsum(c * x0 ** (i % 7) * math.sin(i * y0) for i, c in enumerate(coef))
    got = float(jg.evaluate(f, {names["x"]: x0, names["y"]: y0}))
    assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9 * np.abs(coef).sum())
    dfdx = float(jg.evaluate(jg.grad(f, names["x"]), {names["x"]: x0, names["y"]: y0}))
    want_d = sum(c * (i % 7) * x0 ** (i % 7 - 1) * math.sin(i * y0) for i, c in enumerate(coef))
    assert math.isclose(dfdx, want_d, rel_tol=1e-9, abs_tol=1e-9 * np.abs(coef).sum() * 7)
    if n == 1000:  # the command itself, as a user runs it
        rc, out, err = run("diff", text, "--wrt", "x")
        assert rc == 0, err
        assert out.splitlines()[-1].startswith("d/dx = ")
