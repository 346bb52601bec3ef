"""Live widgets for the notebooks: console consumers side by side, and quizzes.

ipywidgets is imported only when a widget is built, so ``import kafkalab`` stays light.
"""

from __future__ import annotations

import contextlib
import html
import random
import re
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Sequence

from .errors import KafkaLabError, failure_message
from .kafka.base import Cluster
from .processes import kill_guarded, spawn_guarded
from .tooljvm import SOCKET_VARIABLE

# Lines a console consumer prints that are not messages: Kafka's routine notices and its
# closing summary (dropped), and log lines (kept aside: they explain a consumer that died).
_ROUTINE = re.compile(
    r"^(Option --\S+ is deprecated"
    r"|The consumer rebalance protocol \(KIP-848\)"
    r"|Processed a total of \d+ messages)"
)
_LOG_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:,.]+\] (TRACE|DEBUG|INFO|WARN|ERROR) ")
_SHOWN_LINES = 200  # per pane; lines() still returns every message
_REFRESH_SECONDS = 0.2


def in_ipython():
    """The running IPython shell, or None (without importing IPython when it is not loaded)."""
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()


def terminate_consoles(processes: list[subprocess.Popen], grace: float) -> None:
    """Stop console consumers: SIGTERM (they commit and leave the group), then kill.

    Also the finalizer that runs at interpreter exit; it must not refer to the owner.
    """
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(OSError):
                process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(deadline - time.monotonic(), 0))
        kill_guarded(process)  # if it is still running; closes the guard's stdin either way


def spawn_console_tool(cluster: Cluster, command: Sequence[str]) -> subprocess.Popen:
    """``command`` (a console tool and its arguments, ``--bootstrap-server`` filled in) as a
    guarded JVM of its own, stopped on its own: not a call of the notebook's warm tool JVM,
    where console consumers run one at a time. Its stdout and stderr are pipes to read."""
    distribution = cluster.distribution
    environment = distribution.tool_environment()
    environment.pop(SOCKET_VARIABLE, None)
    tool, *arguments = command
    return spawn_guarded(
        [str(distribution.tool(tool)), "--bootstrap-server", cluster.bootstrap_servers, *arguments],
        env=environment,
    )


class ConsoleConsumers:
    """``count`` real ``kafka-console-consumer.sh`` processes on a topic, watched live.

    Built by :func:`kafkalab.watch_consumers`. Each consumer is one pane; a background
    thread reads what each process prints and updates its pane.
    """

    def __init__(
        self,
        cluster: Cluster,
        topic: str,
        *,
        count: int = 2,
        group: str | None = None,
        from_beginning: bool = True,
        show_key: bool = True,
        show_partition: bool = True,
        show_offset: bool = False,
    ):
        if count < 1:
            raise KafkaLabError(f"Hace falta al menos un consumidor; has pedido {count}.")
        self.cluster = cluster
        self.topic = topic
        self.count = count
        self.group = group
        # Without --group the console consumer invents a group "console-consumer-NNNNN" and
        # commits nothing; naming it here the same way lets us wait for its assignment.
        self.groups = [
            group or f"console-consumer-{random.randrange(100000)}" for _ in range(count)
        ]
        self.client_ids = [f"consumidor-{index + 1}" for index in range(count)]
        self._options = {
            "from_beginning": from_beginning,
            "show_key": show_key,
            "show_partition": show_partition,
            "show_offset": show_offset,
        }
        self._processes: list[subprocess.Popen] = []
        self._lines: list[list[str]] = [[] for _ in range(count)]
        self._notes: list[list[str]] = [[] for _ in range(count)]
        self._condition = threading.Condition()
        self._dirty: set[int] = set()
        self._refreshing = threading.Lock()  # the housekeeping thread and the caller both refresh
        self._signalled: set[int] = set()  # panes we stopped, as opposed to ones that died
        self._threads: list[threading.Thread] = []
        self._widget = None
        self._panes: list = []
        self._display = None  # the IPython DisplayHandle of the panes
        self._finalizer = weakref.finalize(self, terminate_consoles, self._processes, 5.0)

    # --- starting -------------------------------------------------------------------

    def command(self, index: int) -> list[str]:
        """The console consumer command line of pane ``index`` (without --bootstrap-server)."""
        command = [
            "kafka-console-consumer.sh",
            "--topic",
            self.topic,
            "--group",
            self.groups[index],
            "--command-property",
            f"client.id={self.client_ids[index]}",
        ]
        if self.group is None:
            command += ["--command-property", "enable.auto.commit=false"]
        if self._options["from_beginning"]:
            command.append("--from-beginning")
        for option, prop in [
            ("show_partition", "print.partition"),
            ("show_offset", "print.offset"),
            ("show_key", "print.key"),
        ]:
            if self._options[option]:
                command += ["--formatter-property", f"{prop}=true"]
        return command

    def start(self, *, timeout: float = 30) -> ConsoleConsumers:
        """Start the processes; return once each one has partitions (or after ``timeout``)."""
        if self.cluster.closed:
            raise KafkaLabError("El clúster ya está cerrado: arranca otro con start_cluster().")
        distribution = self.cluster.distribution
        if distribution is None:
            # The docker backend on a machine without Java 17+ or Kafka's jars.
            raise KafkaLabError(
                "Los consumidores en vivo ejecutan kafka-console-consumer.sh en este ordenador, "
                "y aquí no hay Java 17 o posterior con Kafka instalado. Instala Java y ejecuta "
                "«kafkalab install» (o usa backend='local'); mientras tanto, lee los mensajes "
                "con cluster.run('kafka-console-consumer.sh --topic T --from-beginning "
                "--max-messages N')."
            )
        for index in range(self.count):
            process = spawn_console_tool(self.cluster, self.command(index))
            self._processes.append(process)
            for stream, is_output in ((process.stdout, True), (process.stderr, False)):
                reader = threading.Thread(
                    target=self._read, args=(index, stream, is_output), daemon=True
                )
                reader.start()
                self._threads.append(reader)
        # Consumers of a closed cluster have nothing left to read: they go with it.
        self.cluster.on_close(self._kill_all)
        with self._condition:
            self._dirty.update(range(self.count))
        threading.Thread(target=self._housekeep, daemon=True).start()
        self._wait_until_assigned(timeout)
        return self

    def _wait_until_assigned(self, timeout: float) -> None:
        """Wait until every consumer has joined its group, so messages sent next reach them."""
        from kafka.errors import KafkaError

        from .readers import admin_client

        deadline = time.monotonic() + timeout
        admin = None
        try:
            while time.monotonic() < deadline:
                died = [i for i, p in enumerate(self._processes) if p.poll() is not None]
                if died:
                    self._fail_to_start(died[0])
                if admin is None:
                    with contextlib.suppress(KafkaError, OSError):
                        admin = admin_client(
                            self.cluster.bootstrap_servers,
                            client_id="kafkalab-watch",
                            timeout_ms=3000,
                        )
                if admin is not None:
                    with contextlib.suppress(KafkaError, OSError, KeyError):
                        if self._all_assigned(admin.describe_groups(sorted(set(self.groups)))):
                            return
                time.sleep(0.3)
        finally:
            if admin is not None:
                admin.close()

    def _all_assigned(self, described: dict) -> bool:
        for group in set(self.groups):
            found = described[group]
            if found.get("group_state") != "Stable":
                return False
            ours = [i for i, g in enumerate(self.groups) if g == group]
            present = [m.get("client_id") for m in found.get("members", [])]
            if any(self.client_ids[i] not in present for i in ours):
                return False
        return True

    def _fail_to_start(self, index: int) -> None:
        self._kill_all()
        for thread in self._threads:
            thread.join(timeout=5)
        output = "\n".join(self._notes[index] + self._lines[index])
        tool = "kafka-console-consumer.sh"
        raise KafkaLabError(
            f"El consumidor {index + 1} ({tool}) se detuvo nada más arrancar.\n"
            + failure_message(tool, self._processes[index].returncode, output)
        )

    # --- reading --------------------------------------------------------------------

    def _read(self, index: int, stream, is_output: bool) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            with self._condition:
                if _ROUTINE.match(line):
                    pass
                elif is_output and not _LOG_LINE.match(line):
                    self._lines[index].append(line)
                else:
                    self._notes[index].append(line)
                self._dirty.add(index)
                self._condition.notify_all()
        stream.close()
        with self._condition:
            self._dirty.add(index)
            self._condition.notify_all()

    def _housekeep(self) -> None:
        while True:
            finished = not self.running and not any(t.is_alive() for t in self._threads)
            self._refresh()
            if finished:
                return
            time.sleep(_REFRESH_SECONDS)

    # --- what students and notebooks use ------------------------------------------------

    @property
    def running(self) -> bool:
        return any(process.poll() is None for process in self._processes)

    def lines(self, index: int) -> list[str]:
        """Messages consumer ``index`` (0-based) printed so far, one line each."""
        with self._condition:
            return list(self._lines[index])

    @property
    def total(self) -> int:
        with self._condition:
            return sum(len(lines) for lines in self._lines)

    def wait_for(self, total: int, timeout: float = 30) -> bool:
        """Wait until the panes together show ``total`` messages; False after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while (shown := self.total) < total and self.running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._condition.wait(min(remaining, 0.5))
        self._update_display()
        return shown >= total

    def stop(self, timeout: float = 15) -> None:
        """Stop every consumer with SIGTERM, as Ctrl+C would: they commit and leave the group."""
        self._mark_signalled()
        terminate_consoles(self._processes, timeout)
        self._finish()
        self._update_display()

    def _mark_signalled(self) -> None:
        with self._condition:
            self._signalled.update(i for i, p in enumerate(self._processes) if p.poll() is None)

    def _kill_all(self) -> None:
        self._mark_signalled()
        for process in self._processes:
            kill_guarded(process)
        self._finish()

    def _finish(self) -> None:
        for thread in self._threads:
            thread.join(timeout=5)
        with self._condition:
            self._dirty.update(range(self.count))
        self._refresh()

    def __enter__(self) -> ConsoleConsumers:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- drawing --------------------------------------------------------------------

    def _state(self, index: int) -> str:
        if index >= len(self._processes):
            return "arrancando"
        code = self._processes[index].poll()
        if code is None:
            return "en marcha"
        if index in self._signalled:
            return "parado"
        return f"terminó (código {code})"

    def _title(self, index: int) -> str:
        group = f"grupo {self.group}" if self.group else "grupo propio"
        count = len(self._lines[index])
        noun = "mensaje" if count == 1 else "mensajes"
        return f"Consumidor {index + 1} · {group} · {self._state(index)} · {count} {noun}"

    def _problem_lines(self, index: int) -> list[str]:
        if index >= len(self._processes):
            return []
        code = self._processes[index].poll()
        if code is None or index in self._signalled:
            return []
        return [line for line in self._notes[index] if not line.startswith("\tat ")][-8:]

    def _pane_html(self, index: int) -> str:
        with self._condition:
            lines = self._lines[index][-_SHOWN_LINES:]
            hidden = len(self._lines[index]) - len(lines)
            title = self._title(index)
            problems = self._problem_lines(index)
        body = "\n".join(html.escape(line) for line in lines)
        if hidden:
            body = f"… ({hidden} mensajes anteriores)\n" + body
        if not lines:
            body = '<span style="color:#888">(esperando mensajes…)</span>'
        problem = ""
        if problems:
            problem = (
                '<pre style="color:#b71c1c;white-space:pre-wrap;margin:4px 0 0 0">'
                + html.escape("\n".join(problems))
                + "</pre>"
            )
        running = self._state(index) == "en marcha"
        border = "#2e7d32" if running else "#9e9e9e"
        # column-reverse keeps the newest lines in view without any JavaScript.
        return (
            f'<div style="border:2px solid {border};border-radius:6px;padding:4px 6px;'
            'font-family:system-ui,sans-serif;font-size:12px">'
            f'<div style="font-weight:bold;margin-bottom:2px">{html.escape(title)}</div>'
            '<div style="display:flex;flex-direction:column-reverse;overflow-y:auto;'
            'max-height:240px;min-height:60px">'
            '<pre style="margin:0;font-size:12px;white-space:pre-wrap;word-break:break-all">'
            f"{body}</pre></div>{problem}</div>"
        )

    def _refresh(self) -> None:
        with self._refreshing:
            with self._condition:
                dirty, self._dirty = self._dirty, set()
            if self._widget is None:
                return
            for index in sorted(dirty):
                self._panes[index].value = self._pane_html(index)

    @property
    def widget(self):
        """The ipywidgets HBox with one live pane per consumer."""
        if self._widget is None:
            import ipywidgets as widgets

            self._panes = [
                widgets.HTML(
                    self._pane_html(index),
                    layout=widgets.Layout(flex="1 1 0", min_width="0", margin="0 3px"),
                )
                for index in range(self.count)
            ]
            self._widget = widgets.HBox(self._panes, layout=widgets.Layout(width="100%"))
        return self._widget

    def display(self) -> None:
        """Show the live panes (in IPython/Jupyter; elsewhere nothing happens)."""
        if in_ipython() is None:
            return
        from IPython.display import display

        self._display = display(self._bundle(), raw=True, display_id=True)

    def _bundle(self) -> dict:
        # The widget for live frontends; text and HTML snapshots for the others (an HTML
        # export, GitHub, a terminal), refreshed by wait_for() and stop().
        data = self.widget._repr_mimebundle_() or {}
        data["text/plain"] = repr(self)
        data["text/html"] = self._repr_html_()
        return data

    def _update_display(self) -> None:
        if self._display is not None:
            self._display.update(self._bundle(), raw=True)

    def __repr__(self) -> str:
        group = f"grupo {self.group}" if self.group else "cada uno en su propio grupo"
        lines = [f"Consumidores de consola del topic «{self.topic}» ({group}):"]
        for index in range(self.count):
            with self._condition:
                messages = list(self._lines[index])
                title = self._title(index)
                problems = self._problem_lines(index)
            lines.append(f"── {title} ──")
            lines.extend(f"  {message}" for message in messages)
            lines.extend(f"  ! {problem}" for problem in problems)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells = "".join(
            f'<td style="vertical-align:top;width:{100 / self.count:.0f}%;padding:0 3px">'
            f"{self._pane_html(index)}</td>"
            for index in range(self.count)
        )
        return f'<table style="width:100%;border-collapse:collapse"><tr>{cells}</tr></table>'


# --- quizzes ------------------------------------------------------------------------------

_CODE = re.compile(r"`([^`]+)`")


def _inline_html(text: str) -> str:
    """Escape ``text`` for HTML, turning `code` into <code>code</code>."""
    return _CODE.sub(r"<code>\1</code>", html.escape(text))


class Quiz:
    """A multiple-choice question: radio buttons, a "Comprobar" button and feedback.

    Built by :func:`kafkalab.quiz`. Frontends without widgets (an HTML export, GitHub)
    show the question and the options, with the answer folded in "Ver solución".
    """

    def __init__(self, pregunta: str, opciones: Sequence[str], correcta: int, explicacion: str):
        opciones = list(opciones)
        if len(opciones) < 2:
            raise KafkaLabError("Una pregunta necesita al menos dos opciones.")
        if not 0 <= correcta < len(opciones):
            raise KafkaLabError(
                f"correcta={correcta} no es una opción: usa un índice de 0 a {len(opciones) - 1}."
            )
        self.pregunta = pregunta
        self.opciones = opciones
        self.correcta = correcta
        self.explicacion = explicacion

        import ipywidgets as widgets

        self.question = widgets.HTML(f"<b>{_inline_html(pregunta)}</b>")
        self.choices = widgets.RadioButtons(
            options=[(text, index) for index, text in enumerate(opciones)],
            index=None,
            layout=widgets.Layout(width="auto"),
        )
        self.button = widgets.Button(description="Comprobar", button_style="primary")
        self.feedback = widgets.HTML("")
        self.button.on_click(self.check)
        self.widget = widgets.VBox([self.question, self.choices, self.button, self.feedback])

    def check(self, _button=None) -> bool | None:
        """Show feedback for the chosen option; True if it is the right one."""
        chosen = self.choices.value
        explanation = _inline_html(self.explicacion)
        if chosen is None:
            self.feedback.value = "<i>Elige una opción y pulsa «Comprobar».</i>"
            return None
        if chosen == self.correcta:
            self.feedback.value = (
                f'<div style="color:#1b5e20"><b>¡Correcto!</b> {explanation}</div>'
            )
            return True
        self.feedback.value = (
            f'<div style="color:#b71c1c"><b>No es correcto.</b> {explanation}</div>'
        )
        return False

    def _letter(self, index: int) -> str:
        return "abcdefghijklmnopqrstuvwxyz"[index] if index < 26 else str(index + 1)

    def __repr__(self) -> str:
        lines = [self.pregunta]
        lines.extend(f"  {self._letter(i)}) {text}" for i, text in enumerate(self.opciones))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        options = "".join(f"<li>{_inline_html(text)}</li>" for text in self.opciones)
        answer = _inline_html(self.opciones[self.correcta])
        return (
            '<div style="font-family:system-ui,sans-serif">'
            f"<p><b>{_inline_html(self.pregunta)}</b></p>"
            f'<ol type="a">{options}</ol>'
            "<details><summary>Ver solución</summary>"
            f"<p>Respuesta correcta: <b>{self._letter(self.correcta)}) {answer}</b>. "
            f"{_inline_html(self.explicacion)}</p></details></div>"
        )

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = self.widget._repr_mimebundle_() or {}
        data["text/plain"] = repr(self)
        data["text/html"] = self._repr_html_()
        return data
