"""Run one Kafka tool in the cluster's warm tool JVM, or in a fresh JVM when that is not possible.

Usage: python -I -S _tool_client.py SOCKET RUN_CLASS MAIN_CLASS [ARGUMENT...]

The launch scripts (``kafka-topics.sh``...) exec this when kafkalab published a warm tool JVM
(``KAFKALAB_TOOL_SERVER``). It forwards the arguments, standard input (only once the tool
reads it), SIGINT and SIGTERM to the server (kafkalab/toolserver/ToolServer.java, which
describes the frames), writes what the tool prints, and exits with the tool's exit code. Where
the warm JVM cannot run the call as a fresh JVM would (nobody listens, an argument names a
file relative to this folder, the server says so), it execs ``RUN_CLASS MAIN_CLASS ARGS``:
the fresh JVM the script would have started. Standard library only, so it starts in a few
milliseconds.
"""

import contextlib
import os
import signal
import socket
import struct
import sys
import threading

LOCALE = ("LC_ALL", "LC_CTYPE", "LANG")
CRASHED = (
    "kafkalab: la JVM de herramientas de este clúster se detuvo en mitad de la orden, así que "
    "no hay resultado. Vuelve a ejecutarla: la siguiente arranca otra JVM.\n"
)


def names_a_relative_file(argument: str) -> bool:
    """The warm JVM runs in another folder: a relative path would name another file there."""
    for candidate in (argument, argument.partition("=")[2]):
        if candidate and not os.path.isabs(candidate) and os.path.lexists(candidate):
            return True
    return False


def fresh_jvm(run_class: str, main_class: str, arguments: list[str]) -> None:
    os.execv(run_class, [run_class, main_class, *arguments])


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    return kind + struct.pack(">i", len(payload)) + payload


def header(main_class: str, arguments: list[str]) -> bytes:
    fields = [main_class, str(len(arguments)), *arguments]
    fields += [os.environ.get(name, "") for name in LOCALE]
    encoded = b"".join(
        struct.pack(">i", len(data)) + data
        for data in (field.encode("utf-8", "surrogateescape") for field in fields)
    )
    return frame(b"H", encoded)


def receive_exactly(connection: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def main() -> None:
    path, run_class, main_class, *arguments = sys.argv[1:]
    if any(names_a_relative_file(argument) for argument in arguments):
        fresh_jvm(run_class, main_class, arguments)
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
        connection.sendall(header(main_class, arguments))
    except OSError:
        connection.close()
        fresh_jvm(run_class, main_class, arguments)
    sending = threading.Lock()

    def send(data: bytes) -> None:
        # After a failure the call is over: its exit code is on its way, or lost.
        with sending, contextlib.suppress(OSError):
            connection.sendall(data)

    def forward_signal(number, _frame) -> None:
        send(frame(b"S", struct.pack(">i", number)))

    # As a JVM does: a signal ignored when the program started (a command run with `&` by a
    # script has SIGINT ignored) stays ignored, and the tool never hears of it.
    for number in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(number) is not signal.SIG_IGN:
            signal.signal(number, forward_signal)

    def pump_input() -> None:
        try:
            while chunk := os.read(0, 65536):
                send(frame(b"I", chunk))
        except OSError:
            pass
        send(frame(b"E"))

    output_broken = False
    accepted = False
    while True:
        head = receive_exactly(connection, 5)
        if head is None and not accepted:
            # The JVM ended before it took the call (it failed to start): nothing ran.
            connection.close()
            fresh_jvm(run_class, main_class, arguments)
        if head is None:
            sys.stderr.write(CRASHED)
            os._exit(1)
        kind = head[:1]
        payload = receive_exactly(connection, struct.unpack(">i", head[1:])[0])
        if payload is None:
            sys.stderr.write(CRASHED)
            os._exit(1)
        if kind == b"A":
            accepted = True
        elif kind == b"O":
            if not output_broken:
                try:
                    write_all(1, payload)
                except BrokenPipeError:
                    output_broken = True
                    send(frame(b"P"))
        elif kind == b"R":
            with contextlib.suppress(OSError):
                write_all(2, payload)
        elif kind == b"N":
            threading.Thread(target=pump_input, daemon=True).start()
        elif kind == b"X":
            os._exit(struct.unpack(">i", payload)[0])
        elif kind == b"B":
            connection.close()
            fresh_jvm(run_class, main_class, arguments)


if __name__ == "__main__":
    main()
