"""nbgrader's Execute step, made so that a submission cannot change its own grade.

:class:`TrustedExecute` replaces nbgrader's ``Execute`` in the course's autograde pipeline
(``nbgrader_config.py``), so ``nbgrader autograde``, the formgrader's button and ``python -m
autograder grade`` all grade the same way:

1. The grader owns the servers: it leases a Kafka cluster (and a MongoDB server) from
   :mod:`autograder.grader.servers` for the submission and hands their addresses to the kernel
   (``KAFKA_BOOTSTRAP_SERVERS``, ``MONGODB_URI``, which kafkalab's external backend uses).
2. The kernel runs in the submission's :class:`~autograder.grader.sandbox.Workspace`: a private
   copy of its folder, inside a bubblewrap sandbox when the machine has one.
3. The student's cells run in that kernel. Test cells (nbgrader grade cells) never do: when
   the notebook reaches one, the grader runs the activity's :class:`~autograder.activities.Step`
   of that ``grade_id`` in its own process, against its own servers, and writes the cell's
   output itself (✔ and what was found, or an error with the Spanish message). The only
   values read from the kernel are the activity's answers (``NOMBRE``), as plain text.
4. A cell that runs too long is interrupted; a kernel that ignores the interrupt or dies is
   stopped, its remaining cells are marked as not run, and the remaining test cells are still
   checked against the servers, so the grade is what is in Kafka and MongoDB.
   The submission's processes run under the activity's resource limits (memory, CPU time,
   processes, file size: :class:`~autograder.activities.Limits`, configurable here); the cell
   that was running when one was reached says so in Spanish (``LimiteSuperado``).
5. What happened is recorded for the class report (:mod:`autograder.instructor.report`) in
   ``<course>/informes/<activity>/eventos/<student>.json``: cells that timed out, a kernel that
   died, a resource limit reached (``limit``: kind, value, message), answers refused, the
   outcome of each check, and signals of tampering found in the submitted notebook
   (:mod:`autograder.grader.signals`). Signals are not verdicts: the grade never depends on them.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import datetime
import subprocess
import time
from pathlib import Path

from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Enum, Integer, default

from .. import checks
from ..activities import Activity, Context, Limits, activity, failure_lines
from .course import Course
from .records import Events, RecordError, write_record
from .sandbox import NOT_ISOLATED, Workspace, isolation_problem, kill_session
from .servers import ServersLost, default_pool
from .signals import locked_cells, tamper_signals

__all__ = ["TrustedExecute"]

_MAX_ANSWER = 500  # characters


def _error(ename: str, lines: list[str]) -> NotebookNode:
    return NotebookNode(
        output_type="error", ename=ename, evalue=lines[-1] if lines else "", traceback=lines
    )


def _not_run(text: str) -> NotebookNode:
    return _error("KernelDetenido", [f"\x1b[0;31mKernelDetenido\x1b[0m: {text}"])


class TrustedExecute(Execute):
    """Execute a submission in its sandbox; decide every test cell in the grader's process."""

    sandbox = Enum(
        ["auto", "required", "off"],
        "auto",
        help="auto: sandbox when bwrap and socat work here, else warn; required: refuse to "
        "grade without it; off: never.",
    ).tag(config=True)
    reuse_servers = Bool(
        True,
        help="Lend pooled servers, wiped between submissions (else new ones each time).",
    ).tag(config=True)
    cell_timeout = Integer(
        None,
        allow_none=True,
        help="Seconds a cell may run; default the activity's own (autograder.activities).",
    ).tag(config=True)
    answer_timeout = Integer(5, help="Seconds to wait for the kernel to tell an answer.").tag(
        config=True
    )
    total_cells_timeout = Integer(
        6,
        help="The student's cells may run this many cell timeouts in all; after that the "
        "kernel is stopped (a notebook of a thousand slow cells must not stall the class).",
    ).tag(config=True)
    limits = Bool(
        True,
        help="Set the activity's resource limits on every process of a submission (False: "
        "none, e.g. to measure what they cost).",
    ).tag(config=True)
    memory_limit_mb = Integer(
        None,
        allow_none=True,
        help="MiB of memory for all of a submission's processes together; default the "
        "activity's own (Activity.limits).",
    ).tag(config=True)
    cpu_limit_seconds = Integer(
        None,
        allow_none=True,
        help="Seconds of CPU time for each process of a submission; default the activity's.",
    ).tag(config=True)
    process_limit = Integer(
        None,
        allow_none=True,
        help="Processes and threads of a submission alive at once; default the activity's.",
    ).tag(config=True)
    file_size_limit_mb = Integer(
        None,
        allow_none=True,
        help="MiB a file written by a submission may reach; default the activity's.",
    ).tag(config=True)
    cgroups = Bool(
        True,
        help="Enforce memory and processes on all of a submission's processes together with "
        "cgroups where this machine lets the grader make them (else rlimits, per process).",
    ).tag(config=True)

    _warned = False
    _limits_told: set[str] = set()

    @default("shutdown_kernel")
    def _kill_at_the_end(self):
        return "immediate"  # a submission's kernel has nothing to save

    # -- the whole notebook -------------------------------------------------------------------

    def preprocess(self, nb, resources=None, km=None):
        info = resources["nbgrader"]
        name = info["assignment"]
        self._events = {
            "activity": name,
            "student": info.get("student"),
            "notebook": info.get("notebook"),
            "started": _now(),
            "timeouts": [],
            "kernel_died": None,
            "kernel_unresponsive": None,
            "total_time_exceeded": False,
            "answers_refused": [],
            "checks": {},
            "grader_errors": [],
            "tamper": [],
            "isolated": None,
            "limit": None,
            "error": "",
        }
        began = time.monotonic()
        sidecar = self._events_file(resources)
        if sidecar is not None:
            with contextlib.suppress(OSError):
                sidecar.unlink()  # an earlier run's record must not outlive this one
        try:
            return self._preprocess(nb, resources, name)
        except BaseException as error:
            why = f"{type(error).__name__}: {error}"
            if isinstance(error, ServersLost):
                why = str(error)  # already Spanish, for the report
            self._events["error"] = why[:500]
            raise
        finally:
            self._events["finished"] = _now()
            self._events["seconds"] = round(time.monotonic() - began, 2)
            if sidecar is not None:
                _write_json(sidecar, self._events, self.log)

    def _events_file(self, resources) -> Path | None:
        info = resources["nbgrader"]
        if not info.get("student") or not info.get("assignment"):
            return None
        return Course.from_config(self.config).events(info["assignment"], info["student"])

    def _record_tampering(self, resources) -> None:
        """Compare the notebook as handed in with the gradebook's locked cells."""
        import nbformat

        info = resources["nbgrader"]
        try:
            folder = Course.from_config(self.config).folder(
                "submitted", info["assignment"], info["student"]
            )
            submitted = nbformat.read(folder / f"{info['notebook']}.ipynb", as_version=4)
            locked = locked_cells(info["db_url"], info["assignment"], info["notebook"])
            self._events["tamper"] = tamper_signals(submitted, locked)
        except Exception as error:  # the record must never stop grading
            self.log.warning("tampering signals of %s: %s", info.get("student"), error)

    def _preprocess(self, nb, resources, name):
        spec = activity(name)
        if spec is None:
            self.log.error("%s: no trusted checks are defined; its test cells score 0.", name)
            for cell in nb.cells:
                if cell.cell_type == "code" and utils.is_grade(cell):
                    cell.outputs = [
                        _error(
                            "SinComprobacion",
                            [f"La actividad «{name}» no tiene comprobaciones de confianza."],
                        )
                    ]
            return nb, resources
        self._record_tampering(resources)
        isolated = self._isolated()
        self._events["isolated"] = isolated
        source = Path(resources.get("metadata", {}).get("path") or ".")
        with default_pool().lease(spec.brokers, spec.mongo, reuse=self.reuse_servers) as servers:
            environment = {"KAFKA_BOOTSTRAP_SERVERS": servers.bootstrap_servers}
            if servers.mongo_uri:
                environment["MONGODB_URI"] = servers.mongo_uri
            workspace = Workspace(
                source,
                servers.ports,
                environment,
                isolated=isolated,
                limits=self._limits(spec) if self.limits else None,
                cgroups=self.cgroups,
            )
            self._tell_limits(workspace)
            self._spec: Activity = spec
            self._servers = servers
            self._workspace = workspace
            self._kernel_stopped = False
            self._stopped_why = "el kernel se detuvo en una celda anterior"
            self._answers: dict[str, str | None] = {}
            self._kernel_pid: int | None = None
            self._kernel_process = None
            self._deadline = time.monotonic() + self.total_cells_timeout * (
                self.cell_timeout or spec.cell_timeout
            )
            try:
                graded = super().preprocess(nb, resources)
            finally:
                if not isolated and self._kernel_pid:
                    kill_session(self._kernel_pid)
                workspace.close()
            lost = servers.lost()
            if lost:
                # Not the student's doing: fail this grading, and the driver grades it again.
                raise ServersLost("; ".join(lost))
            return graded

    def _limits(self, spec: Activity) -> Limits:
        """The activity's limits, with those set in the configuration instead."""
        own = spec.limits
        return Limits(
            memory_mb=self.memory_limit_mb or own.memory_mb,
            cpu_seconds=self.cpu_limit_seconds or own.cpu_seconds,
            processes=self.process_limit or own.processes,
            file_mb=self.file_size_limit_mb or own.file_mb,
        )

    def _tell_limits(self, workspace: Workspace) -> None:
        """Log once (per grading process) which limits are enforced and how: a warning when
        memory or processes are not counted for the whole submission (no cgroups here)."""
        confinement = workspace.confinement
        described = confinement.describe() if confinement else ""
        if not described or described in TrustedExecute._limits_told:
            return
        TrustedExecute._limits_told.add(described)
        whole = all(confinement.enforced[k] == "cgroup" for k in ("memory", "processes"))
        problems = "".join(f" ({p})" for p in confinement.problems)
        if whole and not problems:
            self.log.debug("Límites de cada entrega: %s.", described)
        else:
            self.log.warning("Límites de cada entrega: %s.%s", described, problems)

    def _isolated(self) -> bool:
        if self.sandbox == "off":
            problem = "sandbox desactivado en la configuración"
        else:
            problem = isolation_problem()
        if problem is None:
            return True
        if self.sandbox == "required":
            raise RuntimeError(NOT_ISOLATED.format(reason=problem))
        if not TrustedExecute._warned:
            TrustedExecute._warned = True
            self.log.warning(NOT_ISOLATED.format(reason=problem))
        return False

    # -- the kernel ---------------------------------------------------------------------------

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        workspace = self._workspace
        km.connection_file = str(workspace.rundir / "kernel.json")
        if workspace.isolated:
            # Inside the sandbox there is only loopback of its own: talk over Unix sockets.
            km.transport = "ipc"
            km.ip = str(workspace.rundir / "kernel")
            # bwrap does not pass signals on: interrupt through the control channel.
            km.kernel_spec.interrupt_mode = "message"
        original = km.format_kernel_cmd

        def sandboxed(extra_arguments=None):
            return workspace.command(original(extra_arguments))

        km.format_kernel_cmd = sandboxed
        return km

    async def async_start_new_kernel(self, **kwargs):
        kwargs["cwd"] = str(self._workspace.workdir)
        # The kernel's own console output (start-up notes) is noise for the grader.
        kwargs["stdout"] = kwargs["stderr"] = subprocess.DEVNULL
        kwargs["env"] = self._workspace.environment()
        await super().async_start_new_kernel(**kwargs)
        self._kernel_pid = getattr(self.km.provisioner, "pid", None)
        self._kernel_process = getattr(self.km.provisioner, "process", None)

    # nbclient binds its synchronous entry points to its own coroutines: bind them to ours.
    start_new_kernel = run_sync(async_start_new_kernel)

    def _get_timeout(self, cell):
        return self.cell_timeout or self._spec.cell_timeout

    # -- cells --------------------------------------------------------------------------------

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type != "code":
            return cell
        if utils.is_grade(cell):
            await self._check(cell)
            return cell
        if cell.metadata.get("nbgrader", {}).get("grade_id") in self._spec.student_only:
            text = "(Al corregir no se ejecuta: es una ayuda para ti y no cuenta para la nota.)\n"
            cell.outputs = [NotebookNode(output_type="stream", name="stdout", text=text)]
            return cell
        if not self._kernel_stopped and time.monotonic() > self._deadline:
            await self._stop_kernel()
            self._stopped_why = "el cuaderno superó el tiempo total de ejecución"
            self._events["total_time_exceeded"] = True
        if self._kernel_stopped:
            cell.outputs = [_not_run(f"No se ha ejecutado: {self._stopped_why}.")]
            return cell
        try:
            await self._execute_watching_servers(
                cell, cell_index, execution_count=execution_count, store_history=store_history
            )
        except DeadKernelError:
            self._kernel_stopped = True
            self._events["kernel_died"] = _cell_label(cell, cell_index)
            if self._report_limits(cell, self._kernel_exit_status()):
                why = "El kernel se detuvo: las celdas siguientes no se han ejecutado."
            else:
                why = (
                    "El kernel se detuvo durante esta celda (¿os._exit(), falta de memoria?). "
                    "Las celdas siguientes no se han ejecutado."
                )
            cell.outputs.append(_not_run(why))
            return cell
        self._report_limits(cell)
        if any(o.get("ename") == "CellTimeoutError" for o in cell.outputs):
            self._events["timeouts"].append(
                {"cell": _cell_label(cell, cell_index), "seconds": self._get_timeout(cell)}
            )
            cell.outputs[-1] = _error(
                "TiempoAgotado",
                [
                    f"\x1b[0;31mTiempoAgotado\x1b[0m: la celda seguía en marcha tras "
                    f"{self._get_timeout(cell)} s y se ha interrumpido."
                ],
            )
            if await self._ask_kernel({}) is None:
                await self._stop_kernel()
                self._events["kernel_unresponsive"] = _cell_label(cell, cell_index)
                cell.outputs.append(
                    _not_run(
                        "El kernel no respondía tras interrumpir la celda y se ha detenido. "
                        "Las celdas siguientes no se han ejecutado."
                    )
                )
        return cell

    execute_cell = run_sync(async_execute_cell)  # as start_new_kernel above

    async def _execute_watching_servers(self, cell, cell_index, **options) -> None:
        """Run ``cell`` while asking, every second, whether the submission's servers still
        accept connections. One that died (which no submission can cause) ends the grading
        at once with :class:`ServersLost`, instead of letting each cell wait on it until its
        timeout: the driver grades the submission again on new servers."""
        run = asyncio.ensure_future(super().async_execute_cell(cell, cell_index, **options))
        while True:
            done, _ = await asyncio.wait({run}, timeout=1.0)
            if done:
                return run.result()
            if await asyncio.to_thread(self._servers.refused):
                run.cancel()
                with contextlib.suppress(BaseException):
                    await run
                await self._stop_kernel()
                raise ServersLost("; ".join(await asyncio.to_thread(self._servers.lost)))

    def _kernel_exit_status(self) -> int | None:
        """How the kernel's process (the sandbox's, when there is one) ended, if it has."""
        process = self._kernel_process
        if process is None:
            return None
        with contextlib.suppress(subprocess.TimeoutExpired):
            return process.wait(timeout=2)
        return None

    def _report_limits(self, cell, exit_status: int | None = None) -> bool:
        """Say in ``cell`` which resource limits were reached while it ran (Spanish) and
        record the first for the class report; True when one was."""
        hits = self._workspace.limit_hits(exit_status, cell.get("outputs"))
        for hit in hits:
            cell.outputs.append(
                _error("LimiteSuperado", [f"\x1b[0;31mLimiteSuperado\x1b[0m: {hit.message}"])
            )
            if self._events["limit"] is None:
                self._events["limit"] = hit.record()
        return bool(hits)

    async def _stop_kernel(self) -> None:
        self._kernel_stopped = True
        try:
            await ensure_async(self.km.shutdown_kernel(now=True))
        except Exception as error:  # already gone
            self.log.debug("stopping an unresponsive kernel: %s", error)

    async def _ask_kernel(self, expressions: dict[str, str]) -> dict | None:
        """Evaluate ``expressions`` in the kernel; None when it does not answer in time."""
        if self._kernel_stopped or self.kc is None:
            return None
        msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions=expressions)
        deadline = time.monotonic() + self.answer_timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                reply = await ensure_async(self.kc.get_shell_msg(timeout=left))
            except Exception:
                return None
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return reply["content"].get("user_expressions", {})
        return None

    async def _read_answers(self) -> dict[str, str | None]:
        """The activity's answers from the kernel, as text; anything else is refused."""
        if not self._spec.answers:
            return {}
        found = await self._ask_kernel({v: v for v in self._spec.answers})
        if found is None:  # the kernel is gone: keep what it said last
            return self._answers
        answers: dict[str, str | None] = {}
        for variable, name in self._spec.answers.items():
            value = None
            result = found.get(variable, {})
            if result.get("status") == "ok":
                text = result.get("data", {}).get("text/plain", "")
                try:
                    parsed = ast.literal_eval(text) if len(text) < 4 * _MAX_ANSWER else None
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    parsed = None
                if type(parsed) is str and len(parsed) <= _MAX_ANSWER:
                    value = parsed
                elif variable not in self._events["answers_refused"]:
                    self._events["answers_refused"].append(variable)
            answers[name] = value
        self._answers = answers
        return answers

    async def _check(self, cell) -> None:
        """Decide a test cell here, against the grader's servers."""
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        step = self._spec.step(grade_id)
        cell.execution_count = None
        if step is None:
            self.log.error("%s: no trusted check for grade cell %s", self._spec.name, grade_id)
            cell.outputs = [
                _error("SinComprobacion", [f"La celda «{grade_id}» no tiene comprobación."])
            ]
            return
        context = Context(
            kafka=self._servers.bootstrap_servers,
            mongo_uri=self._servers.mongo_uri,
            answers=await self._read_answers(),
            workdir=self._workspace.workdir,
            run_script=self._workspace.run_python,
        )

        def run() -> str:
            with checks.on_cluster(self._servers.bootstrap_servers):
                return step.run(context)

        try:
            message = await asyncio.to_thread(run)
        except AssertionError as error:
            self._events["checks"][grade_id] = "fallida"
            cell.outputs = [_error("ComprobacionFallida", failure_lines(step.title, str(error)))]
        except Exception as error:
            self.log.exception("check %s of %s", grade_id, self._spec.name)
            self._events["checks"][grade_id] = "error"
            self._events["grader_errors"].append(
                {"cell": grade_id, "error": f"{type(error).__name__}: {error}"[:300]}
            )
            cell.outputs = [
                _error(
                    "ErrorDelCorrector",
                    failure_lines(
                        step.title,
                        f"La comprobación no ha podido terminar ({type(error).__name__}: "
                        f"{error}). Avisa al profesor.",
                    ),
                )
            ]
        else:
            self._events["checks"][grade_id] = "superada"
            text = f"✔ {message}\n"
            cell.outputs = [NotebookNode(output_type="stream", name="stdout", text=text)]
        self._report_limits(cell)  # a script the check ran may have reached one


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _cell_label(cell, index: int) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"celda {index + 1}"


def _write_json(path: Path, data: dict, log) -> None:
    """Record ``data`` as :class:`~autograder.grader.records.Events`; log, never raise (the grade
    does not depend on the record)."""
    try:
        write_record(path, Events.from_dict(data))
    except (OSError, RecordError) as error:
        log.warning("could not record %s: %s", path, error)
