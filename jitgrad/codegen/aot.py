"""Ahead-of-time artifacts: a kernel as a small shared library, loaded without Numba.

``compile(..., aot=True)`` wraps a kernel's ``inner`` (outputs written into
caller buffers) in a Numba ``cfunc`` taking raw pointers, takes its LLVM IR,
gives the wrapper a fixed exported name (``jitgrad_kernel``) and every other
definition internal linkage, optimizes at O3 for the host CPU, emits a PIC
object and links it with the C compiler (``cc -shared -Wl,--no-undefined``)
into ``<cache>/k_<hash>.<host>.so``. A later process that builds the same graph
loads it with :mod:`ctypes` and never imports Numba or llvmlite.

The artifact is refused (the kernel stays JIT-only) when the library needs
anything beyond libc/libm: kernels that allocate temporaries call Numba's
runtime (NRT), and so do parallel kernels.

Files, beside the kernel's ``k_<hash>.py``:

``k_<hash>.<host>.<sha256[:16]>.so``
    the library, written atomically, named by its content.
``k_<hash>.<host>.aot``
    the manifest: JSON sealed by a first line ``# jitgrad aot sha256=<digest>``,
    recording the SHA-256 of the library (checked before every ``dlopen``), the
    argument kinds, the constant names, the CPU and the tools that built it; or,
    for a kernel that cannot be built ahead of time, the reason (so later
    processes do not retry).

``<host>`` is :func:`host_key`: the library is machine code for this CPU, so a
cache shared by machines holds one artifact per kind of CPU.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from .trust import atomic_write, seal, unseal

log = logging.getLogger("jitgrad")

FORMAT = 2  # 2: one void **args argument (1: one C argument per array)
SYMBOL = "jitgrad_kernel"
MAX_ARGS = 256  # pointers one call passes: MAX_ARGS in _trampoline.c

# Undefined symbols a library may keep: libc/libm, and the weak references of
# the C runtime's start files.
ALLOWED = frozenset(
    """memset memcpy memmove
    exp expf exp2 exp2f expm1 expm1f log logf log2 log2f log10 log10f log1p log1pf
    pow powf sqrt sqrtf cbrt cbrtf hypot hypotf fabs fabsf fmod fmodf
    sin sinf cos cosf tan tanf sincos sincosf asin asinf acos acosf atan atanf atan2 atan2f
    sinh sinhf cosh coshf tanh tanhf asinh asinhf acosh acoshf atanh atanhf
    erf erff erfc erfcf lgamma lgammaf tgamma tgammaf floor floorf ceil ceilf
    round roundf trunc truncf rint rintf nearbyint nearbyintf fmin fminf fmax fmaxf
    copysign copysignf ldexp ldexpf frexp frexpf
    __cxa_finalize __gmon_start__ _ITM_deregisterTMCloneTable _ITM_registerTMCloneTable
    """.split()
)

_SCALARS = (np.dtype("float64"), np.dtype("float32"))


class Unsupported(Exception):
    """This kernel cannot be built ahead of time (it stays JIT-only)."""


class SelfCheckFailed(Unsupported):
    """The library just built disagrees with :func:`jitgrad.evaluate` (it is not
    written to the cache; the JIT kernel is checked in its place)."""


# ----------------------------------------------------------------------------- host and tools

_HOST = []
_CPU_KEYS = (
    "vendor_id",
    "cpu family",
    "model",
    "flags",
    "Features",
    "CPU implementer",
    "CPU architecture",
    "CPU variant",
    "CPU part",
    "isa",
    "cpu",
)


def host_key() -> str | None:
    """A short digest naming the kind of machine code this host runs, or None
    where it cannot be told cheaply (then there is no AOT).

    It hashes ``platform.machine()``, ``sys.platform`` and the first processor's
    identity and feature lines of ``/proc/cpuinfo`` (vendor, family, model, the
    ``flags``/``Features`` line): the features are what the object code may
    use, and reading them takes well under a millisecond with neither llvmlite
    nor Numba imported. A changed feature set (another machine on a shared
    cache, a microcode update hiding a feature) gives another key, so a new
    artifact is built, never a wrong one loaded.
    """
    if not _HOST:
        key = None
        try:
            lines = []
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                for line in f:
                    if not line.strip():
                        if lines:
                            break
                        continue
                    k, _, v = line.partition(":")
                    if k.strip() in _CPU_KEYS:
                        lines.append(f"{k.strip()}:{' '.join(v.split())}")
            if any(x.split(":")[0] in ("flags", "Features", "isa") for x in lines):
                text = "\n".join([platform.machine(), sys.platform] + lines)
                key = hashlib.sha256(text.encode()).hexdigest()[:16]
        except OSError:
            pass
        _HOST.append(key)
    return _HOST[0]


def find_cc() -> list | None:
    """The C compiler command: ``$CC`` when set (and only it), else ``cc``,
    ``gcc`` or ``clang`` on ``PATH``; None if there is none."""
    env = os.environ.get("CC")
    if env is not None:
        parts = shlex.split(env)
        if not parts:
            return None
        exe = shutil.which(parts[0])
        return [exe] + parts[1:] if exe else None
    for name in ("cc", "gcc", "clang"):
        exe = shutil.which(name)
        if exe:
            return [exe]
    return None


def cc_timeout() -> float:
    """Seconds a C compiler or linker run may take: ``$JITGRAD_CC_TIMEOUT``, else 120."""
    try:
        return float(os.environ.get("JITGRAD_CC_TIMEOUT", "120"))
    except ValueError:
        return 120.0


def _run_tool(cmd, output):
    """Run the compiler command ``cmd`` that writes the shared library ``output``;
    ``(completed process, None)`` or ``(completed process, why it failed)``.

    Bounded by :func:`cc_timeout` (a hanging compiler is killed), a compiler
    killed by SIGINT re-raises ``KeyboardInterrupt`` here (the user's Ctrl-C
    reaches the user), and the output must be a shared library of this kind
    (ELF on Linux) before anything loads it. None of these is recorded as a
    property of the kernel: the next compile tries again."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=cc_timeout())
    except subprocess.TimeoutExpired:
        return None, f"{cmd[0]} did not finish within {cc_timeout():g} s (JITGRAD_CC_TIMEOUT)"
    if p.returncode < 0:
        import signal

        if -p.returncode == signal.SIGINT:
            raise KeyboardInterrupt
        return p, f"{cmd[0]} was killed by signal {-p.returncode}"
    if p.returncode != 0:
        return p, None
    try:
        with open(output, "rb") as f:
            head = f.read(4)
    except OSError as e:
        return p, f"{cmd[0]} wrote no library ({e})"
    if sys.platform.startswith("linux") and head != b"\x7fELF":
        return p, f"{cmd[0]} exited 0 but its output is not a shared library"
    return p, None


def _transient(e: BaseException) -> BaseException | None:
    """The interrupt or OS error behind ``e`` (through its causes), if any: such
    failures are retried by later compiles, never recorded."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, (KeyboardInterrupt, OSError, MemoryError)):
            return e
        e = e.__cause__ or e.__context__
    return None


# ----------------------------------------------------------------------------- files


def paths(directory: str, name: str, host: str):
    """``(prefix, manifest path)``: a library is ``<prefix>.<sha256[:16]>.so``, named
    by its content, so a manifest never names a file that another process's build
    replaced (and a path already loaded in this process has the same bytes)."""
    base = os.path.join(directory, f"{name}.{host}")
    return base, base + ".aot"


def _libs(prefix: str) -> list:
    d, stem = os.path.split(prefix)
    try:
        return [
            os.path.join(d, f)
            for f in os.listdir(d)
            if f.startswith(stem + ".") and f.endswith(".so")
        ]
    except OSError:
        return []


def _seal(manifest: dict) -> bytes:
    return seal("aot", json.dumps(manifest, sort_keys=True, indent=1)).encode()


def read_manifest(path: str):
    """The manifest dict if its seal matches, None if missing, raises ValueError if corrupt."""
    from .trust import UntrustedFile, read_bytes

    try:
        raw = read_bytes(path)
    except FileNotFoundError:
        return None
    except UntrustedFile as e:
        raise ValueError(str(e)) from None
    try:
        body = unseal("aot", raw.decode())
        if body is None:
            raise ValueError("seal does not match")
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(str(e)) from None


def _remove(*files):
    for p in files:
        try:
            os.unlink(p)
        except OSError:
            pass


def arg_kinds(inputs, outputs, consts) -> list:
    """One entry per argument of the exported function: a scalar dtype (passed by
    value) or ``"p"`` (a pointer to C-contiguous data)."""
    kinds = []
    for v in inputs:
        if v.ndim == 0:
            if v.dtype not in _SCALARS:
                raise Unsupported(f"scalar input of dtype {v.dtype}")
            kinds.append(v.dtype.str)
        else:
            kinds.append("p")
    for o in outputs:
        if o.ndim == 0 and o.dtype not in _SCALARS:
            raise Unsupported(f"0-d output of dtype {o.dtype}")
    kinds += ["p"] * (len(outputs) + len(consts))
    return kinds


_NRT_NOINLINE = re.compile(r"^(define [^\n]*@NRT_(?:incref|decref)\([^)\n]*\)[^#\n{]*)#\d+", re.M)


def needs_runtime(module) -> str | None:
    """Why the ``inner_w`` (else ``inner``) function of a kernel module cannot
    run without Numba's runtime (NRT), or None: the module's ``_RUNTIME``, the
    first call in that function that allocates an array (``np.empty``,
    ``np.full``, ``np.ascontiguousarray``, ...) or calls BLAS (``np.dot``), as
    the emitter found it in the loop IR (:func:`jitgrad.codegen.ir.runtime_call`).
    A kernel that passes this check and still needs them is caught at link
    time (``--no-undefined``)."""
    call = getattr(module, "_RUNTIME", None)
    if call:
        return f"the code allocates temporary arrays with Numba's runtime (NRT): {call}"
    return None


# ----------------------------------------------------------------------------- load


def load(directory: str, name: str, host: str, head: list):
    """``head``: the argument kinds of the inputs and outputs (:func:`arg_kinds`).

    ``(function, manifest)`` for a valid artifact; ``(None, manifest)`` when the
    manifest says this kernel has no artifact; ``(None, None)`` when there is
    none (or it was invalid: then it is removed, with a logged warning)."""
    prefix, man_path = paths(directory, name, host)
    try:
        man = read_manifest(man_path)
    except ValueError as e:
        log.warning("jitgrad: AOT manifest %s is corrupt (%s); removing it", man_path, e)
        _remove(man_path, *_libs(prefix))
        return None, None
    if man is None:
        return None, None
    why = None
    so = man.get("so")
    so_path = os.path.join(directory, so) if isinstance(so, str) else man_path
    if man.get("format") != FORMAT or man.get("kernel") != name or man.get("host") != host:
        why = "built for another kernel, host or format"
    elif "unsupported" in man:
        return None, man
    elif not (
        isinstance(so, str)
        and os.path.basename(so) == so
        and so.startswith(os.path.basename(prefix) + ".")
        and so.endswith(".so")
    ):
        why = "the manifest names no library of this kernel"
    elif man.get("args") != head + ["p"] * (len(man.get("consts", ())) + len(man.get("temps", ()))):
        why = "argument kinds do not match"
    else:
        from .trust import read_bytes

        try:
            data = read_bytes(so_path)
        except OSError as e:
            data, why = None, f"cannot read the library ({e})"
        if data is not None and hashlib.sha256(data).hexdigest() != man.get("so_sha256"):
            why = "the library's SHA-256 does not match its manifest"
    if why is None:
        try:
            return address(so_path, man.get("symbol", SYMBOL)), man
        except (OSError, AttributeError) as e:
            why = f"cannot load it ({e})"
    log.warning("jitgrad: AOT artifact %s unusable (%s); removing it", so_path, why)
    _remove(man_path, so_path)
    return None, None


_HANDLES = []  # libraries loaded by this process: never closed (their code may run)


def address(path: str, symbol: str = SYMBOL) -> int:
    """Load the library at ``path`` and return the address of ``symbol``."""
    lib = ctypes.CDLL(path)
    _HANDLES.append(lib)
    return ctypes.cast(getattr(lib, symbol), ctypes.c_void_p).value


# ----------------------------------------------------------------------------- trampoline

_TRAMPOLINE = {}
_TRAMPOLINE_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_trampoline.c")
_TRAMPOLINE_NAME = "_jitgrad_trampoline"


def _trampoline_key() -> str:
    """What the trampoline's machine code depends on: its source, this Python's
    ABI and the NumPy it was compiled against."""
    import sysconfig

    with open(_TRAMPOLINE_SRC, "rb") as f:
        src = f.read()
    parts = [
        hashlib.sha256(src).hexdigest(),
        sys.version,
        str(sysconfig.get_config_var("EXT_SUFFIX")),
        np.__version__,
        platform.machine(),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def trampoline(directory: str, build: bool = True):
    """The compiled ``_trampoline.c`` module (CPython's side of every AOT kernel
    call) for this Python and NumPy, loaded from ``directory``, built there
    first if needed and ``build``; None where it cannot be had (reason logged).

    The library is named by :func:`_trampoline_key` and sealed by a manifest
    holding its SHA-256, like a kernel's artifact.
    """
    if "module" in _TRAMPOLINE:
        return _TRAMPOLINE["module"]
    try:
        key = _trampoline_key()
    except OSError as e:
        log.warning("jitgrad: no AOT call path: cannot read %s (%s)", _TRAMPOLINE_SRC, e)
        return None
    so_path = os.path.join(directory, f"{_TRAMPOLINE_NAME}.{key}.so")
    man_path = so_path[:-3] + ".aot"
    mod = None
    try:
        man = read_manifest(man_path)
    except ValueError:
        man = None
    if man is not None:
        from .trust import read_bytes

        try:
            if hashlib.sha256(read_bytes(so_path)).hexdigest() != man.get("so_sha256"):
                raise ImportError("its SHA-256 does not match its manifest")
            mod = _import_extension(so_path)
        except (OSError, ImportError) as e:
            log.warning("jitgrad: AOT call path %s unusable (%s); rebuilding it", so_path, e)
        if mod is None:
            _remove(man_path, so_path)
    if mod is None and build:
        mod = _build_trampoline(so_path, man_path)
    if mod is not None:
        _TRAMPOLINE["module"] = mod
    return mod


def _import_extension(path: str):
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.ExtensionFileLoader(_TRAMPOLINE_NAME, path)
    spec = importlib.util.spec_from_file_location(_TRAMPOLINE_NAME, path, loader=loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def _build_trampoline(so_path: str, man_path: str):
    import sysconfig

    cc = find_cc()
    include = sysconfig.get_paths().get("include") or ""
    if cc is None:
        log.info("jitgrad: no AOT call path: no C compiler")
        return None
    if not os.path.exists(os.path.join(include, "Python.h")):
        log.warning(
            "jitgrad: no AOT kernels: Python.h not found in %r (install the Python headers)",
            include,
        )
        return None
    directory = os.path.dirname(so_path)
    with tempfile.TemporaryDirectory(prefix=".aot-", dir=directory) as tmp:
        out = os.path.join(tmp, "t.so")
        cmd = cc + ["-shared", "-fPIC", "-O2", "-I", include, "-I", np.get_include()]
        cmd += ["-o", out, _TRAMPOLINE_SRC]
        p, why = _run_tool(cmd, out)
        if why is None and p.returncode != 0:
            why = (p.stderr.strip().splitlines() or ["?"])[-1][:300]
        if why is not None:
            log.warning("jitgrad: no AOT kernels: building the call path failed: %s", why)
            return None
        with open(out, "rb") as f:
            data = f.read()
        mod = _import_extension(out)  # the file checked is the file loaded
    man = {"format": FORMAT, "trampoline": os.path.basename(so_path)}
    man["so_sha256"] = hashlib.sha256(data).hexdigest()
    atomic_write(so_path, data)
    atomic_write(man_path, _seal(man))
    return mod


# ----------------------------------------------------------------------------- build


def mark_unsupported(directory: str, name: str, host: str, reason: str):

    _, man_path = paths(directory, name, host)
    man = {"format": FORMAT, "kernel": name, "host": host, "unsupported": reason}
    atomic_write(man_path, _seal(man))


def build(kernel, directory: str, name: str, host: str, cc: list, check=None) -> dict:
    """Build, check and write the artifact of ``kernel`` (a JIT-mode Kernel);
    returns its manifest. ``check(fn)``, given the new library's function before
    it is written to the cache, returns why it is wrong, or None. Raises
    :class:`Unsupported` when the kernel cannot be built ahead of time; other
    errors (no room on disk, a broken compiler) pass."""
    import numba as nb
    from numba import types as T

    consts = kernel._consts
    for c in consts:
        if not (isinstance(c, np.ndarray) and c.ndim and c.flags.c_contiguous):
            raise Unsupported("a constant that is not a C-contiguous array")
    kinds = arg_kinds(kernel.inputs, kernel.outputs, consts)
    # One argument, void **args: a pointer per input (a 0-d input points at its
    # value), per output (a 0-d output at one element) and per constant.
    # inner_w, where the kernel has temporary arrays, takes them as scratch memory
    # from the caller (the trampoline) after the constants.
    env = {"carray": nb.carray, "inner": kernel._inner_w}
    call = []
    things = [(v.shape, v.dtype) for v in kernel.inputs]
    things += [(o.shape or (1,), o.dtype) for o in kernel.outputs]
    things += [(c.shape, c.dtype) for c in consts]
    things += list(kernel._temps)
    kinds += ["p"] * len(kernel._temps)
    if len(things) > MAX_ARGS:
        raise Unsupported(
            f"{len(things)} arguments (inputs, outputs, constants and temporaries); "
            f"the call path takes at most {MAX_ARGS}"
        )
    for q, (shape, dtype) in enumerate(things):
        env[f"d{q}"] = np.dtype(dtype)
        if q < len(kernel.inputs) and shape == ():
            call.append(f"carray(args[{q}], (1,), d{q})[0]")
        else:
            call.append(f"carray(args[{q}], {tuple(shape)}, d{q})")
    src = f"def aot_entry(args):\n    inner({', '.join(call)})\n"
    exec(src, env)
    try:
        cf = nb.cfunc(T.void(T.CPointer(T.voidptr)), error_model="numpy")(env["aot_entry"])
    except Exception as e:
        t = _transient(e)
        if t is not None:  # not a property of the kernel: passed on, never recorded
            raise t from e
        # Not recorded either: an error from inside Numba is not known to be a
        # property of the kernel (a Ctrl-C swallowed by a finalizer half way
        # through the first build left "no compiled object yet for <Library
        # 'inner_w'>", which a mark would have kept for good). The next process
        # tries again; this one stays JIT.
        raise RuntimeError(f"numba cannot compile the C wrapper: {type(e).__name__}: {e}") from None

    # Numba's reference counting helpers are noinline; inlined, they fold away on
    # the wrapper's arrays (no meminfo), and with them the last call into NRT.
    ir = _NRT_NOINLINE.sub(r"\1", cf._library.get_llvm_str())
    meta = {"numba": nb.__version__, "consts": list(kernel._const_names)}
    meta["temps"] = [[list(shape), np.dtype(dt).str] for shape, dt in kernel._temps]
    return link(ir, cf.native_name, directory, name, host, cc, kinds, meta, check)


def link(ir: str, entry: str, directory: str, name: str, host: str, cc: list, kinds, meta, check):
    """The rest of :func:`build`, from LLVM IR whose function ``entry`` is the
    kernel (``void (void **)``): O3 for the host CPU, object code, ``cc
    -shared``, the checks, then the library and its manifest (``meta`` added
    to it) written to the cache. Also used by :mod:`.direct`."""
    import llvmlite
    import llvmlite.binding as llvm

    from .direct import host_target_machine, run_o3

    mod = llvm.parse_assembly(ir)
    mod.get_function(entry).name = SYMBOL
    for fn in mod.functions:
        if not fn.is_declaration and fn.name != SYMBOL:
            fn.linkage = "internal"
    for gv in mod.global_variables:
        if not gv.is_declaration:
            gv.linkage = "internal"
    cpu = llvm.get_host_cpu_name()
    features = llvm.get_host_cpu_features().flatten()
    tm = host_target_machine(reloc="pic")
    run_o3(mod, tm)  # also drops the unused NRT and exception helpers
    obj = tm.emit_object(mod)

    prefix, man_path = paths(directory, name, host)
    with tempfile.TemporaryDirectory(prefix=".aot-", dir=directory) as tmp:
        o_file = os.path.join(tmp, "k.o")
        s_file = os.path.join(tmp, "k.so")
        with open(o_file, "wb") as f:
            f.write(obj)
        cmd = cc + ["-shared", "-s", "-Wl,--no-undefined", "-o", s_file, o_file, "-lm"]
        p, why = _run_tool(cmd, s_file)
        if why is not None:
            raise RuntimeError(why)
        if p.returncode != 0:
            last = (p.stderr.strip().splitlines() or ["?"])[-1][:300]
            if "undefined reference" in p.stderr:
                syms = sorted(set(re.findall(r"undefined reference to [`'](\S+?)'", p.stderr)))
                raise Unsupported(
                    f"the code needs more than libc/libm: {', '.join(syms[:6]) or last}"
                )
            raise RuntimeError(f"{' '.join(cmd)} failed: {last}")
        # --no-undefined already refused symbols libc/libm lack; nm (where there
        # is one) checks the rest against the allow-list.
        undefined = _undefined(s_file) or ()
        bad = sorted(s for s in undefined if s not in ALLOWED)
        if bad:
            raise Unsupported(f"the library needs symbols beyond libc/libm: {', '.join(bad[:8])}")
        with open(s_file, "rb") as f:
            data = f.read()
        if check is not None:
            # Load the very file checked (a path already loaded would give the old one).
            why = check(address(s_file, SYMBOL))
            if why:
                raise Unsupported(why)
    sha = hashlib.sha256(data).hexdigest()
    so_path = f"{prefix}.{sha[:16]}.so"
    man = {
        "format": FORMAT,
        "kernel": name,
        "host": host,
        "symbol": SYMBOL,
        "args": kinds,
        **meta,
        "so": os.path.basename(so_path),
        "so_sha256": sha,
        "cpu": cpu,
        "features": features,
        "triple": llvm.get_default_triple(),
        "llvmlite": llvmlite.__version__,
        "cc": cmd[0],
    }
    atomic_write(so_path, data)
    atomic_write(man_path, _seal(man))
    return man


def _undefined(path: str):
    """Names of the undefined dynamic symbols of a library (via ``nm``), or None."""
    nm = shutil.which("nm")
    if nm is None:
        return None
    p = subprocess.run([nm, "-D", "--undefined-only", path], capture_output=True, text=True)
    if p.returncode != 0:
        return None
    out = set()
    for line in p.stdout.splitlines():
        parts = line.split()
        if parts:
            out.add(parts[-1].split("@")[0])
    return out
