"""Planted files in the kernel cache (jitgrad.codegen.trust): each of four
attacks runs code, or changes a result, in a directory that passes the trust
check (shown first, so that the test can fail), and does neither in one that
fails it: writable by others, owned by another user, or reached through a
symbolic link. Every compile runs in a fresh process (a process keeps what it
has loaded).

The attacks: a forged kernel module with its digest recomputed; a forged
kernel library with its manifest resealed; a forged C trampoline with its
manifest resealed; a pickle in Numba's index files under ``__pycache__``.
"""

import os
import pickle
import shutil
import subprocess
import sysconfig

import numpy as np
import pytest
from children import run_child

from jitgrad.codegen import aot as A
from jitgrad.codegen import kernel as K
from jitgrad.codegen import trust as T

pytestmark = pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX owners and modes only")

ROOT = os.geteuid() == 0
HAVE_CC = A.find_cc() is not None and A.host_key() is not None

_CHILD = r"""
import json, sys, warnings
import numpy as np, jitgrad as jg
x = jg.vector("x_trust", 3)
f = jg.sum(jg.sin(x) * x)
aot = {"jit": False, "aot": None}[sys.argv[1]]
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    k = jg.compile([x], [f, jg.grad(f, x)], aot=aot)
r = k(np.array([0.1, 0.2, 0.3]))
print("RESULT " + json.dumps({
    "values": [float(r[0])] + [float(v) for v in r[1]],
    "aot": k.stats.get("aot"),
    "warnings": [str(m.message) for m in w],
}))
"""

X = np.array([0.1, 0.2, 0.3])
WANT = [float(np.sum(np.sin(X) * X))] + list(np.cos(X) * X + np.sin(X))


def _child(cache, mode):
    return run_child(_CHILD, cache, mode)


def _cc(src, out, *extra):
    c = out + ".c"
    with open(c, "w") as f:
        f.write(src)
    subprocess.run(A.find_cc() + ["-shared", "-fPIC", "-o", out, c, *extra], check=True)
    with open(out, "rb") as f:
        return f.read()


def _kernel_py(d):
    return [os.path.join(d, f) for f in os.listdir(d) if f.startswith("k_") and f.endswith(".py")]


# ----------------------------------------------------------------------------- the forgeries


def forge_module(d, mark):
    (path,) = _kernel_py(d)
    npz_path = path[:-3] + ".npz"
    npz = open(npz_path, "rb").read() if os.path.exists(npz_path) else None
    body = open(path).read().partition("\n")[2] + f"\nopen({mark!r}, 'w').write('module')\n"
    with open(path, "w") as f:
        f.write(K._seal(body, npz))


def forge_library(d, mark):
    (man_path,) = [
        os.path.join(d, f) for f in os.listdir(d) if f.endswith(".aot") and f.startswith("k_")
    ]
    man = A.read_manifest(man_path)
    so = os.path.join(d, man["so"])
    # args: x, out0 (one double), out1 (three)
    src = (
        "void jitgrad_kernel(void **a) { double *o = a[1], *g = a[2];"
        " o[0] = 42.0; g[0] = g[1] = g[2] = 42.0; }\n"
    )
    data = _cc(src, so + ".forged")
    os.replace(so + ".forged", so)
    import hashlib

    man["so_sha256"] = hashlib.sha256(data).hexdigest()
    with open(man_path, "wb") as f:
        f.write(A._seal(man))


def forge_trampoline(d, mark):
    (so,) = [
        os.path.join(d, f)
        for f in os.listdir(d)
        if f.startswith(A._TRAMPOLINE_NAME) and f.endswith(".so")
    ]
    src = (
        "#include <Python.h>\n#include <stdio.h>\n"
        "PyMODINIT_FUNC PyInit__jitgrad_trampoline(void) {"
        f' FILE *f = fopen("{mark}", "w"); if (f) {{ fputs("trampoline", f); fclose(f); }}'
        ' PyErr_SetString(PyExc_ImportError, "forged"); return NULL; }\n'
    )
    data = _cc(src, so + ".forged", "-I", sysconfig.get_paths()["include"])
    os.replace(so + ".forged", so)
    import hashlib

    man_path = so[:-3] + ".aot"
    man = A.read_manifest(man_path)
    man["so_sha256"] = hashlib.sha256(data).hexdigest()
    with open(man_path, "wb") as f:
        f.write(A._seal(man))


class _Evil:
    def __init__(self, mark):
        self.mark = mark

    def __reduce__(self):
        return (os.system, (f"echo index > {self.mark}",))


def forge_numba_index(d, mark):
    pc = os.path.join(d, "__pycache__")
    nbi = [os.path.join(pc, f) for f in os.listdir(pc) if f.endswith(".nbi")]
    assert nbi
    for p in nbi:
        with open(p, "wb") as f:
            pickle.dump(_Evil(mark), f)


ATTACKS = {
    # name: (forgery, child mode that builds the files, child mode that loads them)
    "module": (forge_module, "jit", "jit"),
    "library": (forge_library, "aot", "aot"),
    "trampoline": (forge_trampoline, "aot", "aot"),
    "numba_index": (forge_numba_index, "jit", "jit"),
}


@pytest.fixture(scope="module", params=list(ATTACKS))
def planted(request, tmp_path_factory):
    """A cache folder (0700, ours) with the forged files, and the marker path."""
    name = request.param
    if name in ("library", "trampoline") and not HAVE_CC:
        pytest.skip("no C compiler or no /proc/cpuinfo: no AOT files to forge")
    base = tmp_path_factory.mktemp(f"planted-{name}")
    d = str(base / "cache")
    os.makedirs(d, mode=0o700)
    forge, build_mode, load_mode = ATTACKS[name]
    first = _child(d, build_mode)
    assert np.allclose(first["values"], WANT)
    mark = str(base / "pwned")
    forge(d, mark)
    return name, d, mark, load_mode


def _result_changed(res):
    return not np.allclose(res["values"], WANT)


def test_each_attack_works_in_a_directory_that_passes_the_check(planted, tmp_path):
    """Shows the forgeries are real: the user's own folder is trusted."""
    name, d, mark, mode = planted
    work = str(tmp_path / "cache")
    shutil.copytree(d, work, symlinks=True)
    os.chmod(work, 0o700)
    assert T.directory_problem(work) is None
    res = _child(work, mode)
    assert os.path.exists(mark) or _result_changed(res), (name, res)
    if os.path.exists(mark):
        os.unlink(mark)


def _make_untrusted(how, d, tmp_path):
    """The directory to point JITGRAD_CACHE_DIR at."""
    if how == "writable_by_others":
        os.chmod(d, 0o777)
        return d
    if how == "other_owner":
        if not ROOT:
            pytest.skip("changing a folder's owner needs root")
        os.chown(d, 65534, 65534)
        return d
    link = str(tmp_path / "link")
    os.symlink(d, link)
    return link


@pytest.mark.parametrize("how", ["writable_by_others", "other_owner", "symlink"])
def test_no_attack_runs_from_a_directory_that_fails_the_check(planted, tmp_path, how):
    name, d, mark, mode = planted
    work = str(tmp_path / "cache")
    shutil.copytree(d, work, symlinks=True)
    os.chmod(work, 0o700)
    target = _make_untrusted(how, work, tmp_path)
    assert T.directory_problem(target) is not None
    res = _child(target, mode)
    assert not os.path.exists(mark), (name, how, open(mark).read())
    assert not _result_changed(res), (name, how, res)
    assert any("is not trusted" in w and "compiling in memory" in w for w in res["warnings"])


def test_a_planted_file_in_a_trusted_folder_that_others_can_write_is_not_loaded(planted, tmp_path):
    """A file of the folder that group or others can write is treated as
    missing (the module and the library are rebuilt, replacing it); one under
    ``__pycache__`` makes the whole folder untrusted (Numba loads those itself)."""
    name, d, mark, mode = planted
    work = str(tmp_path / "cache")
    shutil.copytree(d, work, symlinks=True)
    os.chmod(work, 0o700)
    for root, _, files in os.walk(work):
        for f in files:
            os.chmod(os.path.join(root, f), 0o666)
    res = _child(work, mode)
    assert not os.path.exists(mark), name
    assert not _result_changed(res), (name, res)


def test_checks_of_files_and_folders(tmp_path):
    d = tmp_path / "c"
    d.mkdir(mode=0o700)
    assert T.directory_problem(str(d)) is None
    f = d / "k.py"
    f.write_text("x")
    os.chmod(f, 0o600)
    assert T.read_bytes(str(f)) == b"x" and T.file_problem(str(f)) is None
    os.chmod(f, 0o620)
    assert "writable by its group" in T.file_problem(str(f))
    with pytest.raises(T.UntrustedFile, match="writable by its group"):
        T.read_bytes(str(f))
    os.symlink(f, d / "link.py")
    with pytest.raises(T.UntrustedFile, match="symbolic link"):
        T.read_bytes(str(d / "link.py"))
    with pytest.raises(FileNotFoundError):
        T.read_bytes(str(d / "missing.py"))
    os.chmod(d, 0o770)
    assert "writable by its group" in T.directory_problem(str(d))
    os.chmod(d, 0o700)
    (d / "__pycache__").mkdir(mode=0o777)
    os.chmod(d / "__pycache__", 0o777)
    assert "__pycache__ is writable by its group and others" in T.directory_problem(str(d))


def test_one_sealed_format_for_modules_and_manifests():
    from jitgrad.codegen.trust import seal, unseal

    text = seal("kernel", "x = 1\n", b"npz bytes")
    assert text.startswith("# jitgrad kernel sha256=")
    assert unseal("kernel", text, b"npz bytes") == "x = 1\n"
    assert unseal("kernel", text, b"other bytes") is None  # the file beside it changed
    assert unseal("aot", text, b"npz bytes") is None  # a seal of another kind
    assert unseal("kernel", text.replace("x = 1", "x = 2"), b"npz bytes") is None
    assert unseal("kernel", "x = 1\n") is None  # no seal
    # The library manifest is the same format over its JSON.
    man = A._seal({"so": "k.so"}).decode()
    assert man.startswith("# jitgrad aot sha256=") and unseal("aot", man) is not None
