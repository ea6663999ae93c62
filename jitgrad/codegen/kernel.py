"""Kernels: Numba-compiled code for a list of outputs, cached on disk by content.

The generated source is written to ``<cache>/k_<hash>.py`` (constants beside it
in ``k_<hash>.npz``), named by a SHA-256 of the *requested* graph, the options
and the versions of jitgrad, Numba, NumPy and Python. It is imported as a module
and compiled with Numba's ``cache=True``, so a second process that builds the
same graph skips simplification, code generation and LLVM. Writes are atomic; a
file whose recorded digest does not match its contents is rebuilt, never
imported.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import hashlib
import importlib.util
import io
import json
import keyword
import logging
import os
import re
import signal
import sys
import threading
import time
import warnings
import weakref

import numpy as np

from .. import progress
from ..evaluate import evaluate
from ..graph import Node, toposort
from ..ops.core import VAR
from ..printing import count_ops
from ..shapes import fmt
from .errors import InputShapeError
from .trust import atomic_write as _atomic_write
from .trust import seal, unseal

log = logging.getLogger("jitgrad")

FORMAT_VERSION = "1"
MAX_OPS = 200_000  # default size limit of a kernel, in operation nodes
NUMBA_MAX_OPS = 20_000  # the default limit of one that Numba compiles


# ----------------------------------------------------------------------------- hashing


def _param_text(v) -> str:
    from ..graph import Frozen

    if isinstance(v, Frozen):
        a = v.array
        return f"F{a.dtype.str}{a.shape}" + hashlib.sha256(a.tobytes()).hexdigest()
    if isinstance(v, np.dtype):
        return f"D{v.str}"
    if isinstance(v, tuple):
        return "(" + ",".join(_param_text(x) for x in v) + ")"
    return repr(v)


_CODE_DIGEST = []


def _numba_version() -> str:
    """``numba.__version__`` without importing Numba (about 0.25 s): a released
    Numba's ``_version.py`` holds the string ``numba/__init__.py`` reports, as
    JSON (versioneer); anything else (a git checkout) imports Numba."""
    if "numba" not in sys.modules:
        try:
            spec = importlib.util.find_spec("numba")
            with open(os.path.join(os.path.dirname(spec.origin), "_version.py")) as f:
                m = re.search(r"version_json = '{3}(.*?)'{3}", f.read(), re.S)
            v = json.loads(m.group(1))["version"] if m else None
            if isinstance(v, str) and v:
                return v
        except Exception:  # no spec, no file, another layout: ask Numba itself
            pass
    import numba

    return numba.__version__


def _code_digest() -> str:
    """SHA-256 of jitgrad's own sources: any change to the code generator (or to
    an op's rules) gives new cache keys, so no stale kernel is ever reused."""
    if not _CODE_DIGEST:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        h = hashlib.sha256(
            f"fmt {FORMAT_VERSION} numba {_numba_version()} numpy {np.__version__} "
            f"python {sys.version_info[:3]}\n".encode()
        )
        for dirpath, dirnames, filenames in sorted(os.walk(root)):
            dirnames.sort()
            for f in sorted(filenames):
                if f.endswith(".py"):
                    with open(os.path.join(dirpath, f), "rb") as fh:
                        h.update(f.encode() + b"\0" + fh.read())
        _CODE_DIGEST.append(h.hexdigest())
    return _CODE_DIGEST[0]


def graph_digest(inputs, outputs, options: dict) -> str:
    """SHA-256 of the canonical form of the graph, the options, jitgrad's code and
    the versions of Numba, NumPy and Python."""
    h = hashlib.sha256(_code_digest().encode())
    h.update(repr(sorted(options.items())).encode())
    order = toposort(list(inputs) + list(outputs))
    pos = {}
    for k, n in enumerate(order):
        pos[id(n)] = k
        args = ",".join(str(pos[id(i)]) for i in n.inputs)
        params = ";".join(f"{key}={_param_text(val)}" for key, val in n.params)
        h.update(f"{k}:{n.op.name}({args})[{params}]{n.shape}{n.dtype.str}\n".encode())
    h.update(("in:" + ",".join(str(pos[id(v)]) for v in inputs)).encode())
    h.update(("out:" + ",".join(str(pos[id(o)]) for o in outputs)).encode())
    return h.hexdigest()


# ----------------------------------------------------------------------------- cache files


def cache_dir() -> str:
    """The kernel cache: ``$JITGRAD_CACHE_DIR``, else ``$XDG_CACHE_HOME/jitgrad``,
    else ``~/.cache/jitgrad``."""
    d = os.environ.get("JITGRAD_CACHE_DIR")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "jitgrad")
    # absolute: a kernel keeps working after the process changes directory
    return os.path.abspath(os.path.expanduser(d))


def _writable_dir(d: str) -> bool:
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
    except OSError:
        return False
    return os.access(d, os.W_OK | os.X_OK)


_UNTRUSTED_WARNED: set = set()
_CLEANED: set = set()
STALE_SECONDS = 3600  # temporary files older than this are leftovers of a killed process


def _clean_leftovers(d: str):
    """Remove what killed processes left in ``d``: ``.aot-*`` build folders and
    ``.tmp-*`` files of atomic writes, older than :data:`STALE_SECONDS` (younger
    ones may belong to a compile running now). Once per directory and process."""
    if d in _CLEANED:
        return
    _CLEANED.add(d)
    import shutil

    now = time.time()
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        if not (n.startswith(".aot-") or n.startswith(".tmp-")):
            continue
        p = os.path.join(d, n)
        try:
            st = os.lstat(p)
            if now - st.st_mtime < STALE_SECONDS:
                continue
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)
        except OSError:
            pass


def _file_loader(path: str, modname: str, text: str, npz: bytes | None):
    """The lazy import of a kernel module (``k.njit``, ``k.inner`` of an AOT
    kernel): the files are written again first when they are gone or damaged
    (the cache folder was removed since the compile)."""

    def load():
        npz_path = path[:-3] + ".npz"
        if _read_verified(path, npz_path) is None:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            if npz is not None:
                _atomic_write(npz_path, npz)
            _atomic_write(path, text.encode())
        return _import_file(path, modname)

    return load


def _usable_dir(d: str, stacklevel=2) -> bool:
    """Whether the cache directory ``d`` can be used: created if missing,
    writable, and passing :mod:`.trust`'s checks; otherwise one warning per
    directory and process (the kernel is compiled in memory)."""
    from .trust import directory_problem

    if not _writable_dir(d):
        why = "is not writable"
    else:
        why = directory_problem(d)
        why = None if why is None else f"is not trusted: {why}"
    if why is None:
        _clean_leftovers(d)
        return True
    if d not in _UNTRUSTED_WARNED:
        _UNTRUSTED_WARNED.add(d)
        warnings.warn(
            f"jitgrad: cache directory {d!r} {why}; compiling in memory",
            RuntimeWarning,
            stacklevel=stacklevel,
        )
    return False


def _seal(body: str, npz: bytes | None) -> str:
    return seal("kernel", body, npz or b"")


def _verified_source(path: str, npz_path: str):
    """The file's text if its recorded digest matches its contents, else None."""
    found = _read_verified(path, npz_path)
    return None if found is None else found[0]


def _read_verified(path: str, npz_path: str):
    """``(text, npz bytes or None)`` if the recorded digest matches, else None."""
    from .trust import read_bytes

    try:
        text = read_bytes(path).decode("utf-8")
        npz = None
        if os.path.lexists(npz_path):
            npz = read_bytes(npz_path)
    except (OSError, UnicodeDecodeError):  # missing, unreadable or untrusted: rebuilt
        return None
    return (text, npz) if unseal("kernel", text, npz or b"") is not None else None


def _import_file(path: str, name: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    # Numba's cache rebuilds a function's environment by importing its module by name.
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[name]
        raise
    return mod


def _exec_source(source: str, consts: dict):
    # the module's constants, which it takes from its globals (consts.module_consts)
    ns = {"__name__": "jitgrad_kernel_inmemory", "_CONSTS": consts}
    exec(builtins.compile(source, "<jitgrad kernel>", "exec"), ns)
    return ns


# ----------------------------------------------------------------------------- the kernel


_MISSING = object()


class Kernel:
    """A compiled graph: call it with one array per declared input.

    Attributes
    ----------
    inputs : list of Node
        The declared inputs, in call order.
    outputs : list of Node
        The (simplified) output nodes.
    source : str
        The generated Python source that Numba compiled.
    njit : numba dispatcher
        Callable from the user's own ``@numba.njit`` code with the same
        positional arguments (0-d inputs as floats); returns the outputs.
    inner : numba dispatcher
        ``inner(*inputs, *outs)`` writes into caller-owned buffers (0-d outputs
        as 1-element arrays); see :meth:`into`.
    stats : dict
        Seconds spent per compile phase, and whether the disk cache was hit.
    aot : bool
        Whether ``k(...)`` goes through jitgrad's C trampoline into compiled
        code of its own (the ahead-of-time library in the cache, or a kernel
        compiled in memory without Numba: see ``stats["aot"]``) instead of
        Numba's dispatcher.
    """

    aot = False

    def __init__(
        self,
        inputs,
        outputs,
        single,
        module,
        source,
        stats,
        options,
        consts=None,
        loader=None,
        temps=(),
    ):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.source = source
        self.stats = stats
        self.options = options
        self._single = single
        self.batch = bool(options.get("batch"))
        self._specs = [(v.p["name"], v.shape, v.dtype) for v in self.inputs]
        self._n = len(self._specs)
        self._names = [s[0] for s in self._specs]
        if module is not None:
            self._bind(module)
        else:
            # AOT mode: the module (and with it Numba) is imported on first use
            # of njit, inner, ...
            self._const_names, self._consts = consts
            self._loader = loader
            self._temps = temps

    def _bind(self, module):
        self._mod = module
        get = module.__getitem__ if isinstance(module, dict) else module.__dict__.__getitem__
        self.njit = get("entry")
        self._entry_c = get("entry_c")
        self.inner = get("inner")
        self._batch = get("batch")
        self._const_names = tuple(get("_CONST_NAMES"))
        self._temps = [(tuple(shape), np.dtype(dt)) for shape, dt in get("_TEMPS")]
        self._inner_w = get("inner_w") if self._temps else self.inner
        if not self.aot:
            self._consts = tuple(get(name) for name in self._const_names)

    # A kernel is compiled code with fixed inputs and outputs, like a function:
    # copy.copy and copy.deepcopy give the kernel itself (also inside a structure
    # being deep-copied), never a half-copied dispatcher or C call path.
    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __getattr__(self, name):
        # Only reached for attributes not set: the Numba side of an AOT-mode kernel.
        if name in _LAZY and self.__dict__.get("_loader") is not None:
            self._bind(self.__dict__["_loader"]())  # kept until it succeeds
            del self.__dict__["_loader"]
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ------------------------------------------------------------------ arguments
    def _convert(self, k: int, a, lead: tuple = ()):
        name, shape, dtype = self._specs[k]
        want = lead + shape
        if type(a) is np.ndarray and a.dtype == dtype and a.shape == want:
            if want == ():
                return dtype.type(a[()])
            if a.flags.c_contiguous and a.flags.aligned:
                return a
            return np.array(a, dtype=dtype, order="C")  # a copy: contiguous and aligned
        if want == () and type(a) is float and dtype == np.float64:
            return a
        try:
            arr = np.asarray(a)
        except Exception as e:
            raise TypeError(
                f"input {name!r}: cannot convert {type(a).__name__} to an array ({e})"
            ) from None
        if (
            arr.dtype == object
            and not isinstance(a, np.ndarray)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in arr.flat)
        ):
            # Python ints (scalars or lists) beyond int64: converted as NumPy converts
            # them (to float); an array the caller made with dtype=object stays refused
            try:
                arr = np.asarray(a, dtype=dtype)
            except (OverflowError, ValueError, TypeError):
                pass
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"input {name!r}: expected a real number array of shape {fmt(want)}, "
                f"got dtype {arr.dtype}"
            )
        if arr.shape != want:
            raise InputShapeError(f"input {name!r}: expected shape {fmt(want)}", *arr.shape)
        if want == ():
            return dtype.type(arr[()])
        return np.array(arr, dtype=dtype, order="C")

    def _args(self, args, lead=()):
        if len(args) != self._n:
            raise TypeError(
                f"kernel takes {self._n} input(s) ({', '.join(self._names)}), got {len(args)}"
            )
        return [self._convert(k, a, lead) for k, a in enumerate(args)]

    def __call__(self, *args):
        if self.batch:
            return self._call_batch(args)
        if self.aot:
            return self._aot_slow(args, {})
        conv = self._args(args)
        if _direct(self):
            return self.njit(*conv)
        return self._entry_c(*conv, *self._consts)

    # ------------------------------------------------------------------ AOT mode
    def _set_aot(self, address: int, trampoline):
        """Route calls through the artifact's function at ``address`` by way of
        the compiled trampoline (:func:`jitgrad.codegen.aot.trampoline`)."""
        ref = weakref.ref(self)  # the plan holds the fallback: no cycle through it

        def slow(*args, **kws):
            return ref()._aot_slow(args, kws)

        self._aot_call, self._aot_strict, self._aot_into = trampoline.make(
            address,
            _plan(self.inputs),
            _plan(self.outputs),
            tuple(self._consts),
            _temp_plan(self._temps),
            self._single,
            slow,
        )
        self.aot = True

    def _aot_slow(self, args, kws):
        """``k(...)`` in AOT mode where the trampoline's fast path does not
        apply: bind keywords, convert (or raise), then call the library."""
        if kws or len(args) < self._n:
            args = self._bind_keywords(args, kws)
        conv = self._args(args)
        return self._aot_strict(*_floats(conv, self.inputs))

    def _bind_keywords(self, args, kws):
        """Positional arguments from ``args`` and keywords named by the inputs."""
        names = self._names
        if len(args) > self._n:
            return args  # _args words the error
        bound = list(args) + [_MISSING] * (self._n - len(args))
        for key, val in kws.items():
            if key not in names:
                raise TypeError(f"kernel got an unexpected keyword argument {key!r}")
            i = names.index(key)
            if bound[i] is not _MISSING:
                raise TypeError(f"kernel got multiple values for argument {key!r}")
            bound[i] = val
        missing = [n for n, b in zip(names, bound) if b is _MISSING]
        if missing:
            raise TypeError(_missing_message(missing))
        return bound

    def _specialize(self):
        """Give this kernel a generated ``__call__`` taking the inputs by name.

        Where it can, the kernel's ``__call__`` is Numba's own dispatcher
        (:meth:`_dispatch_directly`). Otherwise (AOT mode, large constants) it is
        generated Python whose fast path (arrays of the right dtype and shape,
        C-contiguous; Python floats for float64 scalars) is a few attribute
        checks, then the compiled code's own entry point. Anything else goes
        through :meth:`_convert` first. A missing input is a ``TypeError``
        naming it; too many arguments or an unknown keyword is a ``TypeError``
        worded by Numba (dispatcher) or Python (generated code).
        """
        if self.batch:
            return self
        if self.aot:
            # The trampoline's C function: its fast path has no Python frame.
            self.__class__ = type("Kernel", (Kernel,), {"__call__": staticmethod(self._aot_call)})
            return self
        env = {"ndarray": np.ndarray}
        reserved = {"self", "ndarray", "entry"}
        names = []
        for k, (name, _, _) in enumerate(self._specs):
            ok = name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_")
            ok = (
                ok
                and name not in reserved
                and name not in names
                and not re.fullmatch(r"(dt|sh)\d+", name)
            )
            names.append(name if ok else f"in{k}")
        lines = [f"def __call__(self, {''.join(a + ', ' for a in names)}*_extra):"]
        lines.append(
            f"    if _extra: return _generic(self, {''.join(a + ', ' for a in names)}*_extra)"
        )
        env["_generic"] = Kernel.__call__
        for k, a in enumerate(names):
            _, shape, dtype = self._specs[k]
            env[f"dt{k}"] = dtype
            env[f"sh{k}"] = shape
            if shape == ():
                if dtype == np.float64:
                    lines.append(f"    if type({a}) is not float: {a} = self._convert({k}, {a})")
                else:
                    lines.append(f"    {a} = self._convert({k}, {a})")
                continue
            lines.append(
                f"    if not (type({a}) is ndarray and {a}.shape == sh{k} and {a}.dtype is dt{k} "
                f"and {a}.flags.c_contiguous): {a} = self._convert({k}, {a})"
            )
        if self._dispatch_directly():
            return self
        consts = []
        for q, c in enumerate(self._consts):
            env[f"_c{q}"] = c
            consts.append(f"_c{q}")
        lines.append(f"    return entry({', '.join(names + consts)})")
        sig = next(iter(self._entry_c.overloads))
        env["entry"] = self._entry_c.overloads[sig].entry_point
        exec("\n".join(lines), env)
        self.__class__ = type("Kernel", (Kernel,), {"__call__": env["__call__"]})
        return self

    def _dispatch_directly(self) -> bool:
        """Make ``k(...)`` Numba's own dispatcher of ``entry`` (a C-level call: no
        Python frame, the type checks of Numba's dispatch, the shape checks in
        compiled code), with :meth:`_convert` behind it for every argument whose
        type does not match the compiled signature exactly (lists, integer or
        non-contiguous arrays, read-only arrays, ...). Not where ``entry``
        holds large constants (it is then compiled in every process)."""
        from numba.core.dispatcher import OmittedArg

        if not _direct(self):
            return False
        dispatcher = self.njit
        sig = tuple(_numba_type(v.shape, v.dtype) for v in self.inputs)
        dispatcher.compile(sig)  # compiled by _precompile already: no work here
        entry_c = dispatcher.overloads[sig].entry_point
        consts = ()  # entry reads its (small) constants as globals
        args_of = self._args
        names = self._names

        def convert_and_call(*args, **kws):
            # Called by Numba's dispatcher where no compiled signature matches the
            # argument types exactly: it expects a callable to call with the
            # original arguments. Never compiles another specialisation.
            missing = [n for n, a in zip(names, args) if isinstance(a, OmittedArg)]
            if missing:
                raise TypeError(_missing_message(missing))
            result = entry_c(*args_of(args), *consts)
            return lambda *_a, **_k: result

        dispatcher._compile_for_args = convert_and_call
        self.__class__ = type("Kernel", (Kernel,), {"__call__": staticmethod(dispatcher)})
        return True

    def _call_batch(self, args):
        if not args:
            raise TypeError("a batch kernel needs at least one input to give the batch size")
        first = np.asarray(args[0])
        if first.ndim < 1 + len(self._specs[0][1]):
            raise ValueError(
                f"input {self._names[0]!r}: expected shape (B,) + {fmt(self._specs[0][1])} "
                f"with a leading batch axis, got shape {fmt(first.shape)}"
            )
        B = first.shape[0]
        conv = self._args(args, lead=(B,))
        outs = [np.empty((B,) + o.shape, dtype=o.dtype) for o in self.outputs]
        self._batch(*conv, *outs, *self._consts)
        return outs[0] if self._single else tuple(outs)

    def into(self, *args, out):
        """Evaluate into caller-owned arrays ``out`` (one per output, of the output's
        shape; a 0-d or a 1-element array for a 0-d output). No allocation on the
        fast path: arrays of the exact shape and dtype, C-contiguous, as ``k(...)``
        takes them.

        An output buffer may overlap an input: the results are then the same as
        with separate buffers (NumPy's ``out=`` semantics: computed into
        temporaries, then copied), at the cost of that copy. Two outputs in one
        buffer raise ``ValueError``.

        Examples
        --------
        >>> import numpy as np, jitgrad as jg
        >>> x = jg.vector("x", 3)
        >>> k = jg.compile([x], [jg.sum(x * x), 2.0 * x], cache=False)
        >>> f, g = np.empty(1), np.empty(3)
        >>> k.into(np.array([1.0, 2.0, 3.0]), out=(f, g))
        >>> f, g
        (array([14.]), array([2., 4., 6.]))
        >>> f0 = np.empty(())
        >>> k.into(np.array([1.0, 2.0, 0.0]), out=(f0, g))
        >>> float(f0)
        5.0
        """
        if self.aot:
            # The trampoline checks every argument itself and writes nothing
            # unless all match exactly; anything else goes through the checks
            # and conversions below.
            try:
                self._aot_into(*args, *out)
                return
            except (TypeError, ValueError):
                pass
        conv = self._args(args)
        if len(out) != len(self.outputs):
            raise TypeError(f"into: expected {len(self.outputs)} output arrays, got {len(out)}")
        out = list(out)
        for j, (o, node) in enumerate(zip(out, self.outputs)):
            want = (1,) if node.ndim == 0 else node.shape
            if node.ndim == 0 and isinstance(o, np.ndarray) and o.shape == ():
                o = out[j] = o.reshape(1)  # a view: the kernel writes the caller's 0-d array
            if not isinstance(o, np.ndarray) or o.shape != want or o.dtype != node.dtype:
                raise ValueError(
                    f"into: output {j} must be a {node.dtype} array of shape {fmt(want)}, got "
                    + (
                        f"{o.dtype} {fmt(o.shape)}"
                        if isinstance(o, np.ndarray)
                        else type(o).__name__
                    )
                )
            if not (o.flags.c_contiguous and o.flags.writeable):
                raise ValueError(f"into: output {j} must be a writeable C-contiguous array")
            if type(o) is not np.ndarray:  # np.memmap and other subclasses: the same memory
                out[j] = o.view(np.ndarray)
        # Aliasing: two outputs in one buffer have no meaning (refused); an output
        # that overlaps an input the kernel reads gets NumPy's out= semantics (the
        # results are computed into temporaries, then copied).
        for j, o in enumerate(out):
            for q in range(j):
                if np.shares_memory(o, out[q]):
                    raise ValueError(f"into: outputs {q} and {j} share memory")
        final = None
        if any(not o.flags.aligned for o in out) or any(
            isinstance(a, np.ndarray) and np.may_share_memory(o, a) for o in out for a in conv
        ):
            final, out = out, [np.empty(o.shape, o.dtype) for o in out]
        if self.aot:
            self._aot_into(*_floats(conv, self.inputs), *out)
        else:
            self.inner(*conv, *out, *self._consts)
        if final is not None:
            for dst, src in zip(final, out):
                dst[...] = src

    @property
    def cfunc(self):
        """The kernel as a C function ``double f(int n, double *xx)``: a Numba ``cfunc``.

        For a kernel whose inputs are all float64 scalars and whose one output is
        a float64 scalar. ``xx`` holds the inputs in call order and ``n`` their
        number; any other ``n`` gives nan (a C callback cannot raise). This is
        the signature SciPy's ``quad``, ``dblquad`` and ``nquad`` take as a
        :class:`scipy.LowLevelCallable` (the integration variables first, then
        ``args``): see :meth:`low_level_callable`. Compiled by Numba on first
        use (a fraction of a second; not cached on disk); ``.address`` is the
        function pointer, ``.ctypes`` a ctypes function.

        Raises
        ------
        ValueError
            When an input or the output is not a float64 scalar, there is more
            than one output, or the kernel is a batch kernel.

        Examples
        --------
        >>> import ctypes, jitgrad as jg
        >>> x, a = jg.scalars("x a")
        >>> k = jg.compile([x, a], jg.exp(-a * x**2), cache=False)
        >>> round(k.cfunc.ctypes(2, (ctypes.c_double * 2)(1.0, 2.0)), 6)
        0.135335
        """
        cf = self.__dict__.get("_cfunc")
        if cf is None:
            cf = self.__dict__["_cfunc"] = _scalar_cfunc(self)
        return cf

    def low_level_callable(self):
        """:attr:`cfunc` as a :class:`scipy.LowLevelCallable`, for ``scipy.integrate.quad``
        and ``nquad``: the integrand runs without calling back into Python.

        Examples
        --------
        >>> import numpy as np, jitgrad as jg
        >>> from scipy.integrate import quad
        >>> x, a = jg.scalars("x a")
        >>> k = jg.compile([x, a], jg.exp(-a * x**2), cache=False)
        >>> value, err = quad(k.low_level_callable(), -np.inf, np.inf, args=(2.0,))
        >>> bool(abs(value - np.sqrt(np.pi / 2.0)) < 1e-12)
        True
        """
        import scipy

        return scipy.LowLevelCallable(self.cfunc.ctypes)

    def __repr__(self):
        ins = ", ".join(f"{n}{fmt(s)}" for n, s, _ in self._specs)
        return f"<Kernel ({ins}) -> {len(self.outputs)} output(s)>"


def _scalar_cfunc(kernel):
    """The Numba cfunc ``double (int n, double *xx)`` around ``kernel.njit``."""
    what = "cfunc: a C callback takes float64 scalars and returns one float64 scalar"
    if kernel.batch:
        raise ValueError(f"{what}; this is a batch kernel")
    for name, shape, dtype in kernel._specs:
        if shape != () or dtype != np.float64:
            raise ValueError(f"{what}; input {name!r} is {dtype} of shape {fmt(shape)}")
    if len(kernel.outputs) != 1:
        raise ValueError(f"{what}; this kernel has {len(kernel.outputs)} outputs")
    o = kernel.outputs[0]
    if o.shape != () or o.dtype != np.float64:
        raise ValueError(f"{what}; its output is {o.dtype} of shape {fmt(o.shape)}")
    import numba as nb
    from numba import types as T

    m = kernel._n
    call = f"entry({', '.join(f'a[{i}]' for i in range(m))})" + ("" if kernel._single else "[0]")
    src = (
        "def callback(n, xx):\n"
        f"    if n != {m}:\n"
        "        return nan\n"
        f"    a = carray(xx, ({m},))\n"
        f"    return {call}\n"
    )
    env = {"carray": nb.carray, "entry": kernel.njit, "nan": float("nan")}
    exec(src, env)
    sig = T.float64(T.intc, T.CPointer(T.float64))
    return nb.cfunc(sig, error_model="numpy")(env["callback"])


_LAZY = frozenset({"njit", "inner", "_inner_w", "_entry_c", "_batch", "_mod"})
_MISSING = object()


def _missing_message(missing) -> str:
    """Worded as Python words it for a function with these parameters."""
    listed = [repr(n) for n in missing]
    if len(listed) == 1:
        text = listed[0]
    elif len(listed) == 2:
        text = " and ".join(listed)
    else:
        text = ", ".join(listed[:-1]) + f", and {listed[-1]}"
    plural = "s" if len(listed) > 1 else ""
    return f"kernel missing {len(listed)} required positional argument{plural}: {text}"


def _plan(nodes) -> tuple:
    """``((typenum, shape), ...)``: the argument plan of the AOT trampoline."""
    return tuple((n.dtype.num, tuple(n.shape)) for n in nodes)


def _temp_plan(temps) -> tuple:
    """The trampoline's plan of ``inner_w``'s scratch arrays: ``((typenum, shape), ...)``."""
    return tuple((np.dtype(dt).num, tuple(shape)) for shape, dt in temps)


def _floats(conv, inputs) -> list:
    """Converted inputs as the trampoline takes them: 0-d ones as Python floats
    (exact for float32 values too)."""
    return [float(a) if v.ndim == 0 else a for a, v in zip(conv, inputs)]


def _numba_type(shape, dtype, lead=0):
    import numba

    nbdt = numba.from_dtype(dtype)
    nd = len(shape) + lead
    return nbdt if nd == 0 else numba.types.Array(nbdt, nd, "C")


def compile(
    inputs,
    outputs,
    *,
    simplify: str | None = "fast",
    cache: bool = True,
    parallel: bool = False,
    batch: bool = False,
    fastmath=False,
    max_ops: int | None = None,
    aot: bool | None = None,
    check: bool | int | None = None,
) -> Kernel:
    """Compile ``outputs`` as functions of ``inputs`` into one Numba kernel.

    All outputs come from one generated function that computes their shared
    work once, with elementwise work fused into loops.

    Parameters
    ----------
    inputs : list of Node
        The vars, in the order the kernel takes them. Every var the outputs use
        must be listed; listed vars that no output uses are still taken.
    outputs : Node or list of Node
        A list gives a tuple of results; a single node gives one result.
    simplify : {"fast", "sympy", None}
        Simplification level applied before code generation.
    cache : bool
        Reuse compiled kernels across processes (the source and Numba's object
        code are stored under :func:`cache_dir`).
    parallel : bool
        Spread the large loops of a single call over Numba's threads (loops
        whose iterations write disjoint elements, and full sums). The batch
        driver always uses all of Numba's threads.
    batch : bool
        Every input gets an extra leading axis B; so does every output. The
        batch is spread over all cores with ``prange``.
    max_ops : int, optional
        Refuse graphs with more operation nodes than this (after
        simplification), with a ``ValueError``, before a compile that would
        look like a hang. The default (``None``) is 200 000 where jitgrad
        compiles the kernel to LLVM itself (``stats["llvm"]``: about 4 s at
        20 000 ops, 35 s at 100 000 on a 2-core machine) and 20 000 where the
        kernel needs Numba (``aot=False``, ``batch``, ``parallel``,
        ``fastmath``, float32, BLAS), whose compile time grows about
        quadratically with kernel size (~30 s at 7 000 ops, ~4 min at 23 000).
        An int applies to both. Raise it deliberately for bigger kernels.
    fastmath : bool or set of str
        LLVM fast-math flags. ``True`` means ``{"reassoc", "contract", "nsz",
        "arcp"}``: reassociation and fused multiply-add change rounding (results
        may differ from NumPy in the last bits, and sums may be reordered), while
        NaN and inf keep their meaning. Default off.
    aot : bool, optional
        Build the kernel ahead of time, as a small shared library in the
        cache, and call it through jitgrad's C trampoline: ``k(...)`` costs
        about 0.1 to 0.2 µs on top of the work (the JIT dispatcher: 0.3 to 0.5
        µs), and a later process that compiles the same graph loads the library
        without importing Numba (about 0.02 s to the first result instead of
        about 0.5 s). The default (``None``) is ``JITGRAD_AOT`` from the
        environment (``1`` on, ``0`` off) or, where it is unset, *auto*: AOT
        wherever it can be had, JIT silently elsewhere. ``True`` warns
        (``RuntimeWarning``) when there is no C compiler. Needs ``cache=True``,
        a C compiler (``$CC``, else ``cc``, ``gcc`` or ``clang`` on ``PATH``)
        with the Python headers, and Linux (the library is keyed by the CPU's
        features from ``/proc/cpuinfo``). The first compile costs about as much
        as a JIT compile (plus ~0.3 s once per cache folder and Python version
        for the trampoline). Most kernels are compiled without Numba at all
        (``stats["llvm"]``): one block of scalar LLVM instructions
        (``"direct"``), or loops in the part of the kernel language
        :mod:`jitgrad.codegen.loopjit` compiles (``"loops"``: float64, int64
        and bool values, no ``fastmath``, no whole-array code), in memory when
        ``cache=False``; ``"numba: <why>"`` says why a kernel went to Numba
        (``JITGRAD_LOOPS=0`` sends every loop kernel there). Temporary arrays are scratch memory passed in
        by the trampoline. Not for ``batch=True`` or ``parallel=True``
        kernels, nor kernels that call BLAS (large matrix products: they need
        Numba's runtime): those stay JIT, as ``k.stats["aot"]`` says. Results are bit-identical to the JIT kernel's (``tests/test_loopjit.py`` checks it for the loop compiler); ``k.njit`` and
        ``k.inner`` import Numba and compile (or load) the JIT kernel on first
        use. Every library is checked before it is written to the cache:
        against :func:`jitgrad.evaluate` at one point (and, for Numba's, bit
        for bit against the JIT ``inner``); one that disagrees is not used
        (one ``RuntimeWarning`` naming the kernel) and the JIT kernel is checked
        in its place.
    check : bool, int or list of tuples, optional
        Compare the finished kernel with :func:`jitgrad.evaluate` of
        ``outputs`` at 3 random points (an int: that many) where the reference
        is finite, or at the points given (argument tuples, as the kernel
        takes them without a batch axis), and raise :class:`jitgrad.KernelCheckError` naming every
        output that differs and by how much (tolerances in
        :mod:`jitgrad.codegen.check`). Costs a few reference evaluations per
        compile, also on a cache hit. The default (``None``) is
        ``JITGRAD_CHECK`` from the environment (``1`` on, a larger number for
        that many points, unset or ``0`` off).

    Returns
    -------
    Kernel

    Raises
    ------
    TypeError
        If an input is not a var node or an output is not a node.
    ValueError
        If an output depends on a var not listed in ``inputs``.
    KernelCheckError
        With ``check``, if the kernel disagrees with ``evaluate``; also, without
        it, if an ahead-of-time library and the JIT kernel both disagree with
        ``evaluate`` at the build's self-check point (a jitgrad bug).

    Notes
    -----
    A compile that runs longer than about a second reports its phases (hash,
    cache lookup, simplify, lower, emit, cache write, numba compile) as they
    start, and its total time, to the ``"jitgrad"`` logger at INFO and, when
    stderr is a terminal, on stderr; see :func:`jitgrad.set_progress`. The
    seconds spent per phase are in ``Kernel.stats``.

    Examples
    --------
    >>> import numpy as np, jitgrad as jg
    >>> x = jg.vector("x", 3)
    >>> f = jg.sum(jg.sin(x) ** 2)
    >>> k = jg.compile([x], [f, jg.grad(f, x)], cache=False)
    >>> val, g = k(np.array([0.0, 1.0, 2.0]))
    >>> bool(np.isclose(val, np.sin([0.0, 1.0, 2.0]) @ np.sin([0.0, 1.0, 2.0])))
    True
    """
    options = dict(
        simplify=simplify,
        cache=cache,
        parallel=parallel,
        batch=batch,
        fastmath=fastmath,
        max_ops=max_ops,
        aot=aot,
        check=check,
    )
    try:
        with _ctrl_c_reaches_the_caller():
            return _compile(inputs, outputs, **options)
    except KeyboardInterrupt:
        _forget_interrupted_imports()
        raise
    except OSError as e:
        if not cache:
            raise
        # The disk failed mid-compile (full, turned read-only, permissions
        # changed): nothing was recorded as a property of the kernel, and the
        # same compile in memory does not touch it.
        msg = f"jitgrad: writing the kernel cache failed ({type(e).__name__}: {e}); compiling in memory"
        log.warning("%s", msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        options["cache"] = False
        return _compile(inputs, outputs, **options)


@contextlib.contextmanager
def _ctrl_c_reaches_the_caller():
    """A Ctrl-C during the compile raises ``KeyboardInterrupt`` in the caller even
    when it lands in a callback whose exceptions Python ignores (llvmlite's
    object-cache notifier, a ctypes callback: "Exception ignored on calling
    ctypes callback function ... KeyboardInterrupt"), after which the compile
    went on and returned. Only Python's own handler in the main thread is
    wrapped; a handler of the program's own is left alone."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    pending = []

    def handler(signum, frame):
        pending.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if pending:  # raised once already, and swallowed on the way
        raise KeyboardInterrupt


#: Packages that a compile imports on first use (lazily, to keep cache hits quick).
_TOOLCHAIN = ("numba", "llvmlite")


def _forget_interrupted_imports():
    """After a Ctrl-C that stopped the first import of Numba or llvmlite half
    way: the package being imported is gone from ``sys.modules`` while its
    submodules that had finished stay, holding references to the dead package
    object, so every later compile in the process failed (``module 'numba' has
    no attribute 'core'``). Such leftovers (a module whose parent package is
    gone, at any depth) are dropped, and the next compile imports them afresh.
    Packages that imported completely are not touched."""
    while True:
        orphans = [
            m
            for m in list(sys.modules)
            if m.split(".", 1)[0] in _TOOLCHAIN
            and "." in m
            and m.rsplit(".", 1)[0] not in sys.modules
        ]
        if not orphans:
            return
        log.info("jitgrad: an import was interrupted; dropping %s", ", ".join(orphans[:5]))
        for m in orphans:
            del sys.modules[m]


def _compile(
    inputs, outputs, *, simplify, cache, parallel, batch, fastmath, max_ops, aot, check
) -> Kernel:
    """The body of :func:`compile` (whose signature has the defaults): a pipeline
    of stages, each a function returning a value: validate, digest, cache
    lookup, then (on a miss) simplify and lower to an :class:`_Artifact`, write
    it to the cache, and hand it to a backend (direct LLVM, the ahead-of-time
    library, Numba JIT); last the kernel's checks."""
    t0 = time.perf_counter()
    stats = {}
    inputs, outs, single = _validate(inputs, outputs, batch)
    options = dict(
        simplify=simplify,
        parallel=bool(parallel),
        batch=bool(batch),
        fastmath=_fm_key(fastmath),
        single=single,
    )
    with progress.task(lambda: _describe(inputs, outs)) as rep:
        rep.phase("hash")
        name = "k_" + graph_digest(inputs, outs, options)[:24]
        stats["hash"] = time.perf_counter() - t0

        directory = cache_dir() if cache else None
        if directory is not None and not _usable_dir(directory, stacklevel=4):
            directory = None
        stats["cache_hit"] = False
        aot = _aot_wanted(aot)
        host = _aot_host(aot, directory, parallel, batch, stats)
        kernel, module, source = None, None, None
        if directory is not None:
            kernel, module, source = _lookup(
                inputs, outs, single, stats, options, rep, directory, name, host
            )
        final_outs = outs
        if kernel is None and module is None:
            art = _lower(inputs, outs, simplify, max_ops, directory is not None, fastmath,
                         parallel and not batch, single, stats, rep)  # fmt: skip
            final_outs = art.outputs
            llvm = None
            if aot is not False and not batch and not parallel:
                # One block of LLVM instructions (.direct) or loops in the part of
                # the language .loopjit compiles: llvmlite alone, no Numba;
                # aot=False asks for Numba only.
                t = time.perf_counter()
                llvm = _llvm_text(inputs, art, fastmath, stats)
                stats["llvm_ir"] = time.perf_counter() - t
            if llvm is None and max_ops is None and art.n_ops > NUMBA_MAX_OPS:
                raise ValueError(
                    f"compile: the graph has {art.n_ops} operation nodes and its kernel needs "
                    f"Numba ({stats.get('llvm', 'aot=False, batch or parallel')}), whose compile "
                    f"time grows about quadratically: more than {NUMBA_MAX_OPS} would take very "
                    "long (pass max_ops to try anyway)"
                )
            source, loader = _write(art, directory, name, rep)
            if llvm is not None:
                kernel = _direct_kernel(
                    inputs, art, single, source, stats, options, llvm, loader, rep,
                    directory, name, host,
                )  # fmt: skip
            if kernel is None:
                module = loader()
        if kernel is None:
            kernel = _numba_kernel(
                inputs, final_outs, single, module, source, stats, options, rep, directory, name,
                host, aot is True, batch,
            )  # fmt: skip
        kernel._specialize()
        _after_build(kernel, inputs, outs, check, stats, rep, directory, name, host)
    stats["total"] = time.perf_counter() - t0
    log.info(
        "jitgrad: compiled %d output(s) in %.3f s (%s)",
        len(outs),
        stats["total"],
        ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in stats.items()),
    )
    return kernel


def _validate(inputs, outputs, batch):
    """``(inputs, outputs, single)`` as lists, or the error a caller needs."""
    if isinstance(inputs, Node):
        inputs = [inputs]
    inputs = list(inputs)
    for v in inputs:
        if not isinstance(v, Node) or v.op is not VAR:
            raise TypeError(f"compile: inputs must be var nodes, got {v!r}")
    if len({id(v) for v in inputs}) != len(inputs):
        raise ValueError("compile: an input is listed twice")
    single = isinstance(outputs, Node)
    outs = [outputs] if single else list(outputs)
    if not outs:
        raise ValueError("compile: need at least one output")
    for o in outs:
        if not isinstance(o, Node):
            raise TypeError(f"compile: outputs must be nodes, got {type(o).__name__}")
    declared = {id(v) for v in inputs}
    for n in toposort(outs):
        if n.op is VAR and id(n) not in declared:
            raise ValueError(
                f"compile: the outputs depend on input {n.p['name']!r} of shape {fmt(n.shape)}, "
                "which is not in inputs"
            )
    if batch and not inputs:
        raise ValueError("compile: batch=True needs at least one input")
    return inputs, outs, single


def _lookup(inputs, outs, single, stats, options, rep, directory, name, host):
    """The cache entry ``name``: ``(kernel, None, source)`` when its ahead-of-time
    library loads, ``(None, module, source)`` when its module does, else
    ``(None, None, None)`` (a stale or broken entry is rebuilt, never fatal)."""
    rep.phase("cache lookup")
    path = os.path.join(directory, name + ".py")
    npz_path = os.path.join(directory, name + ".npz")
    found = _read_verified(path, npz_path) if os.path.exists(path) else None
    if found is None:
        if os.path.exists(path):
            log.warning("jitgrad: cache entry %s is corrupt; rebuilding", path)
        return None, None, None
    if host is not None:
        rep.phase("aot load")
        t = time.perf_counter()
        kernel = _aot_kernel(inputs, outs, single, found, stats, options, name, path, host)
        stats["aot_load"] = time.perf_counter() - t
        if kernel is not None:
            stats["cache_hit"] = True
            return kernel, None, None
    try:
        t = time.perf_counter()
        module = _import_file(path, "jitgrad_kernel_" + name[2:])
        stats["import"] = time.perf_counter() - t
    except Exception as e:
        log.warning("jitgrad: cache entry %s unusable (%s); rebuilding", path, e)
        return None, None, None
    stats["cache_hit"] = True
    return None, module, found[0]


@dataclasses.dataclass
class _Artifact:
    """What lowering produced: the simplified outputs, the module body, its
    array constants, the temporary arrays of ``inner_w`` (``(name, shape,
    dtype)``), and the direct-LLVM program when the kernel is one block."""

    outputs: list
    body: str
    consts: dict
    temps: list
    direct: dict | None
    n_ops: int
    kernel: object = None  # inner(_w) as a syntax tree from the loop IR, for loopjit

    @property
    def scratch(self) -> list:
        """``inner_w``'s temporary arrays as ``(shape, dtype)``, in its order."""
        return [(tuple(shape), np.dtype(dt)) for _, shape, dt in self.temps]


def _lower(inputs, outs, simplify, max_ops, cache, fastmath, parallel, single, stats, rep):
    rep.phase(f"simplify ({simplify})" if simplify else "prepare")
    t = time.perf_counter()
    simplified = _simplify(outs, simplify)
    stats["simplify"] = time.perf_counter() - t
    n_ops = count_ops(simplified)
    limit = MAX_OPS if max_ops is None else max_ops
    if n_ops > limit:
        raise ValueError(
            f"compile: the graph has {n_ops} operation nodes, more than max_ops={limit}; "
            "its compile would take very long (pass a larger max_ops to try anyway)"
        )
    rep.phase("lower")
    t = time.perf_counter()
    from .emit import Emitter

    em = Emitter(inputs, simplified, cache=cache, fastmath=fastmath, parallel=parallel)
    em.tuple_out = not single
    stats["lower"] = time.perf_counter() - t
    rep.phase("emit")
    t = time.perf_counter()
    body = em.module()
    stats["emit"] = time.perf_counter() - t
    return _Artifact(simplified, body, em.consts, em.inner_temps, em.direct, n_ops, em.kernel_ast)


def _write(art: _Artifact, directory, name, rep):
    """``(source, loader)``: the sealed module written to the cache (when
    ``directory``), and a function that imports it."""
    modname = "jitgrad_kernel_" + name[2:]
    if directory is None:
        source = art.body
        return source, lambda: _exec_source(source, art.consts)
    rep.phase("cache write")
    npz_bytes = None
    if art.consts:
        buf = io.BytesIO()
        np.savez(buf, **art.consts)
        npz_bytes = buf.getvalue()
    text = _seal(art.body, npz_bytes)
    path = os.path.join(directory, name + ".py")
    if npz_bytes is not None:
        _atomic_write(os.path.join(directory, name + ".npz"), npz_bytes)
    _atomic_write(path, text.encode())
    return text, _file_loader(path, modname, text, npz_bytes)


def _numba_kernel(
    inputs, outs, single, module, source, stats, options, rep, directory, name, host, asked, batch
):
    """The kernel of a module: its ahead-of-time library built where ``host``
    says so, else (or when that fails) Numba's JIT compile."""
    kernel = Kernel(inputs, outs, single, module, source, stats, options)
    if host is not None:
        # The library's build compiles ``inner``; ``entry`` (k.njit) is
        # compiled on its first use only.
        _aot_build(kernel, stats, rep, directory, name, host, asked)
    if not kernel.aot:
        rep.phase("numba load" if stats["cache_hit"] else "numba compile")
        t = time.perf_counter()
        _precompile(kernel, inputs, outs, batch)
        stats["numba"] = time.perf_counter() - t
    return kernel


def _after_build(kernel, inputs, outs, check, stats, rep, directory, name, host):
    """A library refused by its self-check leaves the JIT kernel checked at the
    same point; ``check=`` compares the kernel with ``evaluate``."""
    failed = kernel.__dict__.pop("_selfcheck_failed", None)
    if failed is not None:
        _verify_jit_after_failed_library(kernel, name, directory, host, failed)
    npoints = _check_points(check)
    if npoints:
        from .check import check_kernel

        rep.phase("check")
        t = time.perf_counter()
        check_kernel(kernel, inputs, outs, npoints, name=f"kernel {name}")
        stats["check"] = time.perf_counter() - t


def _check_points(check):
    """``compile``'s ``check`` argument as a number of points (0: no check), or
    the list of points the caller gave."""
    if check is None:
        env = os.environ.get("JITGRAD_CHECK", "").strip().lower()
        if env in ("", "0", "false", "no", "off"):
            return 0
        if env in ("1", "true", "yes", "on"):
            return 3
        try:
            return max(0, int(env))
        except ValueError:
            raise ValueError(
                f"JITGRAD_CHECK must be 0, 1 or a number of points, got {env!r}"
            ) from None
    if check is True:
        return 3
    if check is False:
        return 0
    if isinstance(check, int) and check >= 0:
        return check
    if isinstance(check, (list, tuple)) and all(isinstance(p, (list, tuple)) for p in check):
        return list(check)
    raise TypeError(
        f"compile: check must be a bool, a number of points or a list of points, got {check!r}"
    )


# ----------------------------------------------------------------------------- AOT

_NO_CC_WARNED = []


def _aot_wanted(aot):
    """``compile``'s ``aot`` argument resolved: True, False or ``"auto"`` (the
    default: AOT where it can be had, silently JIT elsewhere)."""
    if aot is None:
        env = os.environ.get("JITGRAD_AOT", "").strip().lower()
        if env in ("1", "true", "yes", "on"):
            return True
        if env in ("0", "false", "no", "off"):
            return False
        return "auto"
    return bool(aot)


def _aot_host(aot, directory, parallel, batch, stats):
    """The host key when this compile uses AOT artifacts, else None (with the
    reason in ``stats["aot"]``)."""
    if not aot:
        stats["aot"] = "off"
        return None
    from . import aot as A

    why = None
    if directory is None:
        why = "needs the disk cache (cache=True)"
    elif batch or parallel:
        why = "batch and parallel kernels are JIT-only"
    elif A.host_key() is None:
        why = "cannot identify the host CPU (no /proc/cpuinfo)"
    if why is not None:
        stats["aot"] = f"off: {why}"
        log.info("jitgrad: no AOT artifact: %s", why)
        return None
    return A.host_key()


def _aot_kernel(inputs, outs, single, found, stats, options, name, path, host):
    """An AOT-mode Kernel from a valid artifact, or None (Numba not imported)."""
    from . import aot as A

    directory = os.path.dirname(path)
    text, npz = found
    try:
        head = A.arg_kinds(inputs, outs, ())
    except A.Unsupported as e:
        stats["aot"] = f"unsupported: {e}"
        return None
    try:
        fn, man = A.load(directory, name, host, head)
    except Exception as e:  # never fatal: the JIT kernel works
        log.warning("jitgrad: AOT artifact of %s unusable (%s); using the JIT kernel", name, e)
        return None
    if fn is None:
        if man is not None:
            stats["aot"] = f"unsupported: {man['unsupported']}"
        return None
    tramp = A.trampoline(directory)
    if tramp is None:
        stats["aot"] = "off: no AOT call path (see the log)"
        return None
    cnames = tuple(man["consts"])
    try:
        arrays = ()
        if cnames:
            with np.load(io.BytesIO(npz)) as f:
                arrays = tuple(np.ascontiguousarray(f[c]) for c in cnames)
    except Exception as e:  # constants missing: use the JIT kernel
        log.warning("jitgrad: constants of %s unreadable (%s); using the JIT kernel", path, e)
        return None
    modname = "jitgrad_kernel_" + name[2:]
    kernel = Kernel(
        inputs,
        outs,
        single,
        None,
        text,
        stats,
        options,
        consts=(cnames, arrays),
        loader=_file_loader(path, modname, text, npz),
        temps=[(tuple(shape), np.dtype(dt)) for shape, dt in man.get("temps", [])],
    )
    try:
        kernel._set_aot(fn, tramp)
    except Exception as e:  # never fatal: the JIT kernel works
        log.warning("jitgrad: AOT artifact of %s unusable (%s); using the JIT kernel", name, e)
        return None
    stats["aot"] = "loaded"
    return kernel


def _aot_build(kernel, stats, rep, directory, name, host, asked):
    """Build the artifact of a JIT-bound kernel unless there is one (or a record
    that it cannot be built), and switch the kernel to it; never raises.
    ``asked``: the ``aot`` argument (True warns when there is no C compiler)."""
    from . import aot as A

    try:
        head = A.arg_kinds(kernel.inputs, kernel.outputs, ())
        fn, man = A.load(directory, name, host, head)
    except A.Unsupported as e:
        fn, man = None, {"unsupported": str(e)}
    if fn is None and man is None:
        why = A.needs_runtime(kernel._mod)
        if why is not None:
            man = {"unsupported": why}
    if man is not None and fn is None:
        stats["aot"] = f"unsupported: {man['unsupported']}"
        return
    cc = A.find_cc()
    if fn is None and cc is None:
        stats["aot"] = "off: no C compiler"
        if asked and not _NO_CC_WARNED:
            _NO_CC_WARNED.append(True)
            warnings.warn(
                "jitgrad: aot=True needs a C compiler ($CC, or cc/gcc/clang on PATH) to link "
                "kernels; none found, so kernels stay JIT-compiled",
                RuntimeWarning,
                stacklevel=4,
            )
        return
    rep.phase("aot load" if fn is not None else "aot build")
    t = time.perf_counter()
    tramp = A.trampoline(directory)
    if tramp is None:
        stats["aot"] = "off: no AOT call path (see the log)"
        return
    if fn is not None:  # built by another process meanwhile
        try:
            kernel._set_aot(fn, tramp)
            stats["aot"] = "loaded"
        except Exception as e:  # never fatal: the JIT kernel works
            stats["aot"] = f"failed: {type(e).__name__}: {e}"
        return
    try:
        check = lambda address: _aot_selfcheck(kernel, address, tramp)
        A.build(kernel, directory, name, host, cc, check=check)
        fn, man = A.load(directory, name, host, head)
        if fn is None:
            raise RuntimeError("the library just built does not load")
        kernel._set_aot(fn, tramp)
        stats["aot"] = "built"
    except A.SelfCheckFailed as e:
        # Recorded only once the JIT kernel passes the same check (compile).
        stats["aot"] = f"failed: {e}"
        kernel._selfcheck_failed = str(e)
    except A.Unsupported as e:
        stats["aot"] = f"unsupported: {e}"
        log.info("jitgrad: kernel %s stays JIT-only: %s", name, e)
        try:
            A.mark_unsupported(directory, name, host, str(e))
        except OSError:
            pass
    except Exception as e:  # never fatal: the JIT kernel works
        stats["aot"] = f"failed: {type(e).__name__}: {e}"
        log.warning("jitgrad: AOT build of %s failed (%s: %s)", name, type(e).__name__, e)
    stats["aot_build"] = time.perf_counter() - t


def _llvm_text(inputs, art, fastmath, stats):
    """``(how, LLVM module text)`` of the kernel compiled without Numba: one
    scalar block (``"direct"``, :mod:`.direct`) or loops (``"loops"``,
    :mod:`.loopjit`); None (the reason in ``stats["llvm"]``) where neither applies."""
    from . import direct as D
    from . import loopjit as LJ

    if art.direct is not None:
        return "direct", D.ir_text(len(inputs), len(art.outputs), art.direct)
    if os.environ.get("JITGRAD_LOOPS", "").strip().lower() in ("0", "false", "no", "off"):
        stats["llvm"] = "numba: JITGRAD_LOOPS=0"
        return None  # asked for Numba's kernel (and its ahead-of-time build)
    try:
        return "loops", LJ.ir_text(
            art.body, inputs, art.outputs, art.consts, art.scratch, fastmath, art.kernel
        )
    except LJ.Unsupported as e:
        stats["llvm"] = f"numba: {e}"
        return None


def _direct_kernel(
    inputs, art, single, source, stats, options, llvm, loader, rep, directory, name, host
):
    """A kernel compiled to LLVM without Numba, called through the trampoline:
    one scalar block (:mod:`.direct`) or loops (:mod:`.loopjit`). Its library
    goes to the cache where there is one (AOT), else it is compiled in memory.
    None where that cannot be had (the Numba path follows)."""
    from . import aot as A
    from . import direct as D

    outs = art.outputs
    t = time.perf_counter()
    cnames = list(art.consts)
    arrays = tuple(np.ascontiguousarray(art.consts[c]) for c in cnames)
    temps = art.scratch
    how, text = llvm
    rep.phase(f"llvm ({how})")
    tdir = directory
    if tdir is None:  # cache=False: the trampoline still lives in the cache folder
        tdir = cache_dir()
        if not _writable_dir(tdir):
            return None
        from .trust import directory_problem

        if directory_problem(tdir) is not None:
            return None
    tramp = A.trampoline(tdir)
    if tramp is None:
        return None
    kernel = Kernel(
        inputs, outs, single, None, source, stats, options, (tuple(cnames), arrays), loader, temps
    )

    def check(address):
        _, strict, _ = tramp.make(
            address, _plan(inputs), _plan(outs), arrays, _temp_plan(temps), False, None
        )
        if art.direct is not None:
            return D.check(outs, inputs, strict)
        return _library_mismatch(kernel, strict)

    try:
        if host is not None and directory is not None:
            head = A.arg_kinds(inputs, outs, arrays) + ["p"] * len(temps)
            meta = {
                "consts": cnames,
                "temps": [[list(shape), dt.str] for shape, dt in temps],
                "direct": how,
            }
            A.link(text, D.SYMBOL, directory, name, host, A.find_cc(), head, meta, check)
            address, _ = A.load(directory, name, host, A.arg_kinds(inputs, outs, ()))
            if address is None:
                raise RuntimeError("the library just built does not load")
            stats["aot"] = "built"
        else:
            address = D.jit(text)
            why = check(address)
            if why:
                raise RuntimeError(why)
            stats["aot"] = f"{how}, in memory"
        kernel._set_aot(address, tramp)
    except A.Unsupported as e:  # refused by the linker or by the check: Numba compiles it
        stats["llvm"] = f"numba: {e}"
        if str(e).startswith("self-check"):
            msg = f"jitgrad: the LLVM kernel {name} was wrong ({e}); compiling it with Numba"
            log.warning("%s", msg)
            warnings.warn(msg, RuntimeWarning, stacklevel=5)
        else:
            log.info("jitgrad: LLVM compile (%s) of %s refused (%s)", how, name, e)
        return None
    except Exception as e:  # never fatal: the Numba path follows
        log.warning(
            "jitgrad: LLVM compile (%s) of %s failed (%s: %s)", how, name, type(e).__name__, e
        )
        stats["llvm"] = f"numba: {type(e).__name__}: {e}"
        return None
    stats["llvm"] = how
    stats["direct"] = time.perf_counter() - t
    return kernel


def _library_mismatch(kernel, strict) -> str | None:
    """Why the library called by ``strict`` disagrees with :func:`jitgrad.evaluate`
    at the self-check point, or None."""
    ins = _selfcheck_point(kernel)
    with np.errstate(all="ignore"):
        lib = strict(*_floats(ins, kernel.inputs))
    return _against_evaluate(kernel, ins, lib if isinstance(lib, tuple) else (lib,))


def _against_evaluate(kernel, ins, lib) -> str | None:
    """Why the library's outputs ``lib`` at ``ins`` disagree with
    :func:`jitgrad.evaluate` (the reference, which shares nothing with the code
    generator), or None."""
    from .check import describe, mismatches

    lib = [np.asarray(b).reshape(o.shape) for b, o in zip(lib, kernel.outputs)]
    with np.errstate(all="ignore"):
        want = evaluate(kernel.outputs, dict(zip(kernel.inputs, ins)))
    bad = mismatches(lib, want, kernel.outputs, bool(kernel.options.get("fastmath")))
    if bad:
        return "self-check against jg.evaluate: " + describe(bad, kernel.outputs)
    return None


def _aot_selfcheck(kernel, address, tramp) -> str | None:
    """Run the library (through the trampoline) and the JIT ``inner`` on the
    same inputs; the outputs must agree bit for bit (they are the same LLVM
    code). Returns why not, or None."""
    ins = _selfcheck_point(kernel)
    jit = [np.zeros(o.shape if o.ndim else (1,), o.dtype) for o in kernel.outputs]
    # inner_w as the build compiled it (calling inner would compile its wrapper too)
    scratch = [np.empty(shape, dt) for shape, dt in kernel._temps]
    kernel._inner_w(*ins, *jit, *kernel._consts, *scratch)
    _, strict, _ = tramp.make(
        address,
        _plan(kernel.inputs),
        _plan(kernel.outputs),
        tuple(kernel._consts),
        _temp_plan(kernel._temps),
        False,
        None,
    )
    lib = strict(*_floats(ins, kernel.inputs))
    for j, (a, b) in enumerate(zip(jit, lib)):
        b = np.asarray(b, dtype=a.dtype).reshape(a.shape)
        if a.tobytes() != b.tobytes():
            return f"self-check: output {j} differs from the JIT kernel's"
    # The JIT inner and the library are the same code: both against the reference.
    from . import aot as A

    why = _against_evaluate(kernel, ins, lib)
    if why:
        kernel._selfcheck_point = ins
        raise A.SelfCheckFailed(why)
    return None


def _selfcheck_point(kernel):
    """The inputs of the AOT self-check: values in [0.3, 0.7] (inside the domain
    of log, sqrt, arcsin, ...), drawn at random from a fixed seed, so that every
    process checks at the same point. Not evenly spaced: equal steps make equal
    differences, ties at the kinks of ``where``/``maximum``/``abs``, where a
    reassociated sum (``fastmath=True``) lands on the other side and its
    derivative differs from ``evaluate``'s for no fault of the kernel."""
    rng = np.random.default_rng(20261203)
    ins = []
    for v in kernel.inputs:
        a = rng.uniform(0.3, 0.7, v.size).astype(v.dtype)  # a 0-d var has size 1
        ins.append(v.dtype.type(a[0]) if v.ndim == 0 else a.reshape(v.shape))
    return ins


def _verify_jit_after_failed_library(kernel, name, directory, host, reason):
    """The library of ``kernel`` disagreed with ``evaluate``: the JIT kernel
    (a separate emission, ``entry``) is checked at the same point. If it agrees,
    it is used, with one warning, and the manifest records that this kernel has
    no library; if not, :class:`KernelCheckError` (no wrong number is returned,
    and nothing is recorded, so the next process checks again)."""
    from . import aot as A
    from .check import KernelCheckError, describe, mismatches

    ins = kernel._selfcheck_point
    with np.errstate(all="ignore"):
        got = kernel(*ins)
        want = evaluate(kernel.outputs, dict(zip(kernel.inputs, ins)))
    got = [got] if kernel._single else list(got)
    bad = mismatches(got, want, kernel.outputs, bool(kernel.options.get("fastmath")))
    if bad:
        raise KernelCheckError(
            f"compile: kernel {name} disagrees with jg.evaluate, both as an ahead-of-time "
            f"library and JIT-compiled (a jitgrad bug: please report it with the graph):\n  "
            + describe(bad, kernel.outputs),
            bad,
        )
    msg = f"jitgrad: the ahead-of-time library of kernel {name} was wrong ({reason}); using the JIT kernel, which agrees with jg.evaluate"
    log.warning("%s", msg)
    warnings.warn(msg, RuntimeWarning, stacklevel=4)
    try:
        A.mark_unsupported(directory, name, host, reason)
    except OSError:
        pass


def _describe(inputs, outs) -> str:
    """``compiling kernel (x, v) -> 3 outputs, 120 ops`` for progress reports."""
    names = ", ".join(v.p["name"] for v in inputs[:4]) + (", ..." if len(inputs) > 4 else "")
    n = len(outs)
    return f"compiling kernel ({names}) -> {n} output{'s' if n != 1 else ''}, {count_ops(outs)} ops"


def _fm_key(fastmath):
    if not fastmath:
        return False
    if fastmath is True:
        return "reassoc,contract,nsz,arcp"
    return ",".join(sorted(fastmath))


def _simplify(outs, level):
    if level is None:
        return outs
    from ..simplify import simplify

    return simplify(outs, level=level)


def _direct(kernel) -> bool:
    """Whether ``entry`` holds the body (constants small enough to be globals of
    a cacheable function), so that ``k(...)`` can be its dispatcher."""
    from .emit import GLOBAL_CONST_BYTES

    return not any(c.nbytes > GLOBAL_CONST_BYTES for c in kernel._consts)


def _precompile(kernel, inputs, outs, batch):
    """Compile (or load from Numba's cache) the one signature the wrapper calls."""
    import numba

    consts = [numba.typeof(c) for c in kernel._consts]
    if not batch and _direct(kernel):
        # k(...) will be entry's dispatcher (Kernel._dispatch_directly).
        kernel.njit.compile(tuple(_numba_type(v.shape, v.dtype) for v in inputs))
    elif batch:
        bins = [_numba_type(v.shape, v.dtype, lead=1) for v in inputs]
        bouts = [_numba_type(o.shape, o.dtype, lead=1) for o in outs]
        kernel._batch.compile(tuple(bins + bouts + consts))
    else:
        kernel._entry_c.compile(tuple([_numba_type(v.shape, v.dtype) for v in inputs] + consts))
