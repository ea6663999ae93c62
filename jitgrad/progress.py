"""Progress reports for slow builds: no compile or Hessian build waits silently.

A long-running piece of work (a kernel compile, a Hessian build, a SymPy
simplification) runs inside :func:`task` and marks its phases. Nothing is
reported while it is quick. Once it has run for longer than a threshold
(``after``, default 1 s) every phase is reported as it starts, and so is the
end with the total time:

- always to the logger ``"jitgrad"`` at level INFO (no handler is added; the
  application's logging configuration decides where that goes);
- and, when the display is on (see :func:`set_progress`), to the user on
  standard error: one line per phase, or a `tqdm <https://tqdm.github.io>`_
  status bar with a ticking clock when tqdm is installed.

One daemon watcher thread, started on first use and parked after two seconds
without work, notices tasks that pass the threshold even while the calling
thread is blocked in one long call (Numba's compiler). A task that ends before
the threshold costs a few microseconds and no thread start.

Settings come from :func:`set_progress`, whose defaults are read from the
environment: ``JITGRAD_PROGRESS`` (``auto``, ``1`` or ``0``) and
``JITGRAD_PROGRESS_AFTER`` (seconds).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time

__all__ = ["set_progress", "task"]

log = logging.getLogger("jitgrad")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_TICK = 0.1  # seconds between the watcher's looks at running tasks
_PARK_AFTER = 2.0  # the watcher parks after this long without any task


def _env_show():
    v = os.environ.get("JITGRAD_PROGRESS", "auto").strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    return "auto"


def _env_after():
    try:
        return max(0.0, float(os.environ.get("JITGRAD_PROGRESS_AFTER", "1.0")))
    except ValueError:
        return 1.0


_settings = {"show": _env_show(), "after": _env_after(), "bar": "auto"}


def set_progress(show=None, *, after=None, bar=None) -> dict:
    """Choose whether and when slow compiles and derivative builds report progress.

    Work that runs longer than ``after`` seconds reports each phase (and its end,
    with the total time) to the logger ``"jitgrad"`` at INFO, whatever ``show``
    says, and to standard error when ``show`` allows it. Arguments left as
    ``None`` keep their current value.

    Parameters
    ----------
    show : {"auto", True, False}, optional
        ``"auto"`` (the default): show the reports on standard error when it is
        a terminal or a Jupyter kernel's stream. ``True``: always. ``False``:
        never (logging only). Default from ``$JITGRAD_PROGRESS`` (``auto``,
        ``1``, ``0``).
    after : float, optional
        Seconds a task runs silently before it starts reporting (default 1.0,
        from ``$JITGRAD_PROGRESS_AFTER``). ``0`` reports every task from its
        start.
    bar : {"auto", False}, optional
        ``"auto"``: a tqdm status line with a running clock when tqdm can be
        imported; ``False``: plain lines, one per phase.

    Returns
    -------
    dict
        The previous settings; ``set_progress(**old)`` restores them.

    Examples
    --------
    >>> import jitgrad as jg
    >>> old = jg.set_progress(False)          # logging only
    >>> old["show"] in ("auto", True, False)
    True
    >>> _ = jg.set_progress(True, after=2.0)  # stderr too, for work over 2 s
    >>> _ = jg.set_progress(**old)            # back to what it was
    """
    old = dict(_settings)
    if show is not None:
        if show not in ("auto", True, False):
            raise ValueError(f"set_progress: show must be 'auto', True or False, got {show!r}")
        _settings["show"] = show
    if after is not None:
        after = float(after)
        if not after >= 0:
            raise ValueError(f"set_progress: after must be >= 0 seconds, got {after!r}")
        _settings["after"] = after
    if bar is not None:
        if bar not in ("auto", False):
            raise ValueError(f"set_progress: bar must be 'auto' or False, got {bar!r}")
        _settings["bar"] = bar
    return old


def _display_on() -> bool:
    show = _settings["show"]
    if show != "auto":
        return bool(show)
    err = sys.stderr
    if err is None:
        return False
    if type(err).__module__.startswith("ipykernel"):
        return True
    try:
        return err.isatty()
    except Exception:
        return False


def _tqdm():
    if _settings["bar"] is False:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


def _fmt_s(s: float) -> str:
    return f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


# ----------------------------------------------------------------------------- the watcher

_active: dict = {}  # id(task) -> task, for the watcher
_cond = threading.Condition(threading.Lock())
_parked = True
_watcher = None
_stopping = False  # set by no_watcher(): the watcher exits and is not restarted


def _start_watcher():
    """Start the watcher thread (call with ``_cond`` held)."""
    global _parked, _watcher
    _watcher = threading.Thread(target=_watch, name="jitgrad-progress", daemon=True)
    _parked = False
    _watcher.start()


def _register(t):
    global _parked
    _active[id(t)] = t
    # Read after the insert: if the watcher is parking concurrently it sees the task.
    if _parked:
        with _cond:
            if _stopping:
                return
            if _watcher is None or not _watcher.is_alive():
                _start_watcher()
            else:
                _parked = False
                _cond.notify()


@contextlib.contextmanager
def no_watcher():
    """Stop the watcher thread for the duration of the block, then start it again
    if tasks are running. For code that forks (the SymPy workers): forking a
    process that has other threads can deadlock the child (Python 3.12+ warns).

    Examples
    --------
    >>> import threading
    >>> from jitgrad import progress
    >>> with progress.no_watcher():
    ...     "jitgrad-progress" in [t.name for t in threading.enumerate()]
    False
    """
    global _stopping, _watcher, _parked
    with _cond:
        w = _watcher
        _stopping = True
        _cond.notify_all()
    if w is not None and w is not threading.current_thread():
        w.join()
    try:
        yield
    finally:
        with _cond:
            _stopping = False
            _watcher = None
            _parked = True
            if _active:
                _start_watcher()


def _watch():
    global _parked
    idle_since = None
    while True:
        if _stopping:
            return
        now = time.perf_counter()
        if _active:
            idle_since = None
            try:
                for t in list(_active.values()):
                    t._tick(now)
            except Exception:  # a report must never stop the watcher
                pass
        elif idle_since is None:
            idle_since = now
        elif now - idle_since > _PARK_AFTER:
            with _cond:
                _parked = True
                if not _active and not _stopping:
                    _cond.wait()
            idle_since = None
            continue
        with _cond:
            if not _stopping:
                _cond.wait(_TICK)


def _after_fork():
    global _cond, _parked, _watcher, _stopping
    _active.clear()
    _cond = threading.Condition(threading.Lock())
    _parked = True
    _watcher = None
    _stopping = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


# ----------------------------------------------------------------------------- tasks

_local = threading.local()


class Task:
    """One piece of work that may report its phases; made by :func:`task`.

    Use :meth:`phase` to mark the start of each phase. Reports start once the
    task has run for longer than the ``after`` setting.
    """

    __slots__ = (
        "desc",
        "start",
        "deadline",
        "phases",
        "current",
        "visible",
        "lock",
        "bar",
        "show",
    )

    def __init__(self, desc, after):
        self.desc = desc
        self.start = time.perf_counter()
        self.deadline = self.start + after
        self.phases = []  # [name, start time]
        self.current = ""
        self.visible = False
        self.lock = threading.Lock()
        self.bar = None
        self.show = False

    # -- called by the working thread
    def phase(self, name: str):
        """Mark the start of phase ``name`` (ending the previous one)."""
        now = time.perf_counter()
        self.phases.append((name, now))
        self.current = name
        if self.visible or now >= self.deadline:
            with self.lock:
                if not self.visible:
                    self._show(now)
                else:
                    self._report(f"{name}...", now)

    def _subphase(self, label: str):
        """A nested task's phase: shown, but not timed as a phase of its own."""
        self.current = label
        now = time.perf_counter()
        if self.visible or now >= self.deadline:
            with self.lock:
                if not self.visible:
                    self._show(now)
                else:
                    self._report(f"{label}...", now)

    def _end(self, exc):
        now = time.perf_counter()
        _active.pop(id(self), None)
        if not self.visible and now < self.deadline:
            return
        with self.lock:
            if not self.visible:
                self._show(now, quiet=True)
            total = now - self.start
            if exc is None:
                msg = f"done in {_fmt_s(total)}"
                times = self._phase_times(now)
                if len(times) > 1:
                    msg += " (" + ", ".join(f"{n} {_fmt_s(s)}" for n, s in times) + ")"
            else:
                msg = f"stopped by {type(exc).__name__} after {_fmt_s(total)}"
            self._report(msg, now, end=True)

    # -- called by the watcher
    def _tick(self, now):
        if self.visible:
            if self.bar is not None:
                try:
                    self.bar.refresh()
                except Exception:
                    pass
        elif now >= self.deadline:
            with self.lock:
                if not self.visible and id(self) in _active:
                    self._show(now)

    # -- reporting (under self.lock)
    def _description(self):
        d = self.desc
        if callable(d):
            try:
                d = d()
            except Exception:
                d = "working"
            self.desc = d
        return d

    def _phase_times(self, now):
        out = []
        for k, (name, t) in enumerate(self.phases):
            t_next = self.phases[k + 1][1] if k + 1 < len(self.phases) else now
            out.append((name, t_next - t))
        return out

    def _show(self, now, quiet=False):
        self.visible = True
        self.show = _display_on()
        self._description()
        what = f"{self.current}..." if self.current and not quiet else None
        if self.show:
            tqdm = _tqdm()
            if tqdm is not None:
                try:
                    self.bar = tqdm(
                        total=None,
                        file=sys.stderr,
                        leave=True,
                        dynamic_ncols=True,
                        bar_format="{desc} [{elapsed}]",
                        desc=f"jitgrad: {self.desc}" + (f": {what}" if what else ""),
                    )
                    # Count the time already spent.
                    self.bar.start_t -= now - self.start
                except Exception:
                    self.bar = None
        if what:
            self._report(what, now)

    def _report(self, what, now, end=False):
        line = f"{self.desc}: {what}"
        if not end:
            line += f" [{_fmt_s(now - self.start)}]"
        log.info("jitgrad: %s", line)
        if not self.show:
            return
        if self.bar is not None:
            try:
                self.bar.set_description_str(f"jitgrad: {self.desc}: {what}", refresh=True)
                if end:
                    self.bar.close()
                return
            except Exception:
                self.bar = None
        try:
            err = sys.stderr
            err.write(f"jitgrad: {line}\n")
            err.flush()
        except Exception:
            pass


class _Nested:
    """A task started inside another task of the same thread: its phases show as
    sub-phases (``"simplify > sympy pass"``) of the outer task's current phase."""

    __slots__ = ("outer", "prefix")

    def __init__(self, outer):
        self.outer = outer
        self.prefix = outer.current

    def phase(self, name: str):
        self.outer._subphase(f"{self.prefix} > {name}" if self.prefix else name)


class task:
    """Run a block as a task that reports its phases once it is slow.

    Parameters
    ----------
    desc : str or callable
        What the work is, as in ``"compiling kernel (3 outputs)"``; a callable
        returning the text is called only if the task is reported.
    after : float, optional
        Seconds before reporting starts; default the :func:`set_progress`
        setting.

    Yields
    ------
    Task
        Call its ``phase(name)`` at the start of each phase.

    Notes
    -----
    A task started while another runs in the same thread reports its phases as
    sub-phases of the outer one (a SymPy simplification inside a compile).
    Tasks in different threads are independent.

    Examples
    --------
    A quick task says nothing; with ``after=0`` every phase is reported (here
    standard error is sent to standard output so that the example shows it):

    >>> import contextlib, sys, jitgrad as jg
    >>> from jitgrad import progress
    >>> with progress.task("demo") as rep:
    ...     rep.phase("first")
    >>> old = jg.set_progress(True, bar=False)
    >>> with contextlib.redirect_stderr(sys.stdout):
    ...     with progress.task("demo", after=0.0) as rep:
    ...         rep.phase("first")
    ...         rep.phase("second")
    jitgrad: demo: first... [...]
    jitgrad: demo: second... [...]
    jitgrad: demo: done in ... (first ..., second ...)
    >>> _ = jg.set_progress(**old)
    """

    __slots__ = ("desc", "after", "t", "outer")

    def __init__(self, desc, *, after=None):
        self.desc = desc
        self.after = after

    def __enter__(self):
        stack = getattr(_local, "stack", None)
        if stack is None:
            stack = _local.stack = []
        self.outer = stack[-1] if stack else None
        if self.outer is not None:
            self.t = _Nested(self.outer)
            stack.append(self.outer)
            return self.t
        t = Task(self.desc, _settings["after"] if self.after is None else self.after)
        self.t = t
        stack.append(t)
        _register(t)
        return t

    def __exit__(self, et, ev, tb):
        _local.stack.pop()
        if self.outer is None:
            self.t._end(ev)
        else:
            self.outer.current = self.t.prefix
        return False
