"""Run a consumer function in a child process and kill it around the commit of a chosen offset.

The self-checks of lessons 05 and 09 ask what a consumer loses or repeats when it dies in the
worst moment. ``crash_run`` answers it for real: the student's function runs in a forked child
process, like a service; when its consumer commits an offset past the chosen message (say
``pagos`` partition 0, offset 5), the child sends itself ``SIGKILL`` just *before* that commit
goes to Kafka, or just *after* Kafka confirms it. A second ``crash_run`` without a kill point is
the restart. Every commit path of kafka-python (``commit()``, ``commit_async()`` and the
automatic commit inside ``poll()``) sends its request through
``ConsumerCoordinator._send_offset_commit_request``, so that coroutine is the one hook; it is
replaced in the child only.

A function that does not commit past the kill point is not killed: the run says so
(``killed`` false), and the check built on it reports it. Each run is bounded by ``timeout``;
the child dies with the notebook (``PR_SET_PDEATHSIG``) and never runs the notebook's exit
handlers (it ends with ``os._exit``).
"""

from __future__ import annotations

import ctypes
import faulthandler
import os
import select
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import KafkaLabError

__all__ = ["AFTER_COMMIT", "BEFORE_COMMIT", "CrashRun", "KillPoint", "crash_run"]

BEFORE_COMMIT = "antes de confirmar"
AFTER_COMMIT = "después de confirmar"
_PR_SET_PDEATHSIG = 1
_OUTPUT_LIMIT = 4000


@dataclass(frozen=True)
class KillPoint:
    """Kill the child when its consumer commits past ``offset`` of ``topic``/``partition``."""

    topic: str
    partition: int
    offset: int
    moment: str = BEFORE_COMMIT

    def __post_init__(self) -> None:
        if self.moment not in (BEFORE_COMMIT, AFTER_COMMIT):
            raise KafkaLabError(
                f"momento desconocido «{self.moment}»: usa «{BEFORE_COMMIT}» o «{AFTER_COMMIT}»."
            )

    def covered_by(self, offsets: dict) -> bool:
        """Whether a commit of ``offsets`` ({TopicPartition: OffsetAndMetadata}) marks the
        chosen message as done: it commits a next offset beyond it."""
        return any(
            tp.topic == self.topic and tp.partition == self.partition and meta.offset > self.offset
            for tp, meta in offsets.items()
        )


@dataclass(frozen=True)
class CrashRun:
    """How one run of the function in its child process ended."""

    killed: bool  # it died by the kill point's SIGKILL
    timed_out: bool  # it was still running at the deadline, and was killed for that
    error: str  # the exception the function raised (one line), or ""
    output: str  # what it printed (its first and last characters, 4000 in all)
    seconds: float
    kill: KillPoint | None = None
    exit_code: int | None = None  # as subprocess shows it: -9 for SIGKILL

    @property
    def finished(self) -> bool:
        """The function returned by itself."""
        return not (self.killed or self.timed_out or self.error)

    def outcome(self) -> str:
        """One line in Spanish: how the run ended."""
        if self.killed and self.kill is not None:
            point = self.kill
            return (
                f"muerto con SIGKILL justo {point.moment} el offset {point.offset} de "
                f"{point.topic}-{point.partition} (código de salida: {self.exit_code})"
            )
        if self.timed_out:
            return f"no terminó en el plazo: muerto con SIGKILL tras {self.seconds:.0f} s"
        if self.error:
            return f"falló: {self.error}"
        if self.kill is not None:
            return f"terminó sin llegar a confirmar el offset {self.kill.offset}"
        return "terminó solo"

    def __repr__(self) -> str:
        return f"{self.output.rstrip()}\n→ {self.outcome()}".lstrip("\n")


def _shorten(text: str) -> str:
    """The output's beginning and end when it is longer than the limit (a crash dump starts
    with its reason and ends with the modules loaded)."""
    if len(text) <= _OUTPUT_LIMIT:
        return text
    head = _OUTPUT_LIMIT // 3
    return f"{text[:head]}\n[…]\n{text[-(_OUTPUT_LIMIT - head) :]}"


def _arm(point: KillPoint) -> None:
    """In the child: SIGKILL ourselves around the first commit that covers ``point``."""
    from kafka.coordinator.consumer import ConsumerCoordinator

    send = ConsumerCoordinator._send_offset_commit_request

    def die() -> None:
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    async def send_or_die(self, offsets):
        crossing = point.covered_by(offsets)
        if crossing and point.moment == BEFORE_COMMIT:
            die()
        result = await send(self, offsets)
        if crossing and point.moment == AFTER_COMMIT:
            die()
        return result

    ConsumerCoordinator._send_offset_commit_request = send_or_die


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the run's deadline still bounds it
        pass


def _child(
    function: Callable, make_args: Callable[[], tuple], point: KillPoint | None, output: Path
) -> None:
    """The forked child: never returns, ends with os._exit (no exit handlers of the kernel)."""
    code = 1
    try:
        _die_with_parent()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        sys.stdout = sys.stderr = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        # A crash's traceback dump goes to the run's output too, not to the kernel's log.
        faulthandler.enable(file=sys.stderr)
        sys.stdin = open(os.devnull)  # noqa: SIM115
        if point is not None:
            _arm(point)
        function(*make_args())
        code = 0
    except BaseException:  # noqa: BLE001 - reported to the parent through the output
        kind, error, _ = sys.exc_info()
        print(f"\n@@error@@ {kind.__name__}: {error}", flush=True)
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
        finally:
            os._exit(code)


def _wait(pid: int, timeout: float) -> int | None:
    """The child's wait status, or None when it is still running after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if pidfd is not None:
                select.select([pidfd], [], [], left)
            else:
                time.sleep(min(left, 0.05))
    finally:
        if pidfd is not None:
            os.close(pidfd)


def crash_run(
    function: Callable,
    *args,
    make_args: Callable[[], tuple] | None = None,
    kill: KillPoint | None = None,
    timeout: float = 40,
) -> CrashRun:
    """Run ``function(*args)`` in a forked child process; kill it at ``kill``, if given.

    Args:
        function: the consumer to try; it must create its own consumer (and clients) inside.
        args: its arguments (plain values: they are copied into the child by the fork).
        make_args: instead of ``args``, a function run in the child that returns them, for
            arguments that must not cross a fork (a ``MongoClient``'s collection).
        kill: where to kill it; None runs it to its end (the restart).
        timeout: seconds the run may take; then it is killed and reported as timed out.
    """
    if not callable(function):
        raise KafkaLabError(f"se esperaba una función, no {type(function).__name__}.")
    if make_args is None:

        def make_args() -> tuple:
            return args

    with tempfile.TemporaryDirectory(prefix="kafkalab-crash-") as folder:
        output = Path(folder) / "salida.txt"
        sys.stdout.flush()
        sys.stderr.flush()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child ends in os._exit
            _child(function, make_args, kill, output)
        status = _wait(pid, timeout)
        timed_out = status is None
        if timed_out:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        seconds = time.monotonic() - started
        text = output.read_text(errors="replace") if output.exists() else ""
    error = ""
    if "\n@@error@@ " in "\n" + text:
        text, _, rest = ("\n" + text).partition("\n@@error@@ ")
        text = text[1:]
        error = rest.splitlines()[0]
    killed = False
    if not timed_out and os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        killed = kill is not None and signum == signal.SIGKILL
        if not killed and not error:
            error = f"murió por la señal {signal.Signals(signum).name}"
    exit_code = None
    if os.WIFSIGNALED(status):
        exit_code = -os.WTERMSIG(status)
    elif os.WIFEXITED(status):
        exit_code = os.WEXITSTATUS(status)
    return CrashRun(
        killed=killed,
        timed_out=timed_out,
        error=error,
        output=_shorten(text),
        seconds=seconds,
        kill=kill,
        exit_code=exit_code,
    )
