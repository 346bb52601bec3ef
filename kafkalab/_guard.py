"""Keep one server process from outliving the Python process that started it.

Usage: python -I -S _guard.py CLEANUP_DIR [STDIN_FD] -- COMMAND...

The owner starts this guard with a pipe as its stdin and never writes to it. When the owner
exits for any reason, SIGKILL included, the kernel closes the pipe; the guard then kills the
server and deletes CLEANUP_DIR ("-" for none). SIGTERM to the guard is passed on to the
server (a clean stop), SIGUSR1 kills the server at once. The guard exits with the server's
exit status. With STDIN_FD the server's standard input is that file descriptor (the warm
tool JVM's listening socket), else /dev/null. Standard library only: it starts in a few
milliseconds.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading


def main() -> None:
    separator = sys.argv.index("--")
    cleanup = sys.argv[1] if sys.argv[1] != "-" else None
    stdin = int(sys.argv[2]) if separator == 3 else subprocess.DEVNULL
    server = subprocess.Popen(sys.argv[separator + 1 :], stdin=stdin)
    if separator == 3:
        os.close(stdin)  # the server has it now

    def forward(signum, _frame):
        if signum == signal.SIGUSR1:
            server.kill()
        else:
            server.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGUSR1, forward)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    owner_gone = threading.Event()

    def watch_owner() -> None:
        with contextlib.suppress(OSError):
            while sys.stdin.buffer.read(1024):
                pass
        owner_gone.set()
        server.kill()
        server.wait()
        if cleanup:
            shutil.rmtree(cleanup, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(cleanup))
        os._exit(0)

    threading.Thread(target=watch_owner, daemon=True).start()
    status = server.wait()
    if owner_gone.is_set():
        # The watcher is cleaning up and ends the process itself; exiting here would cut it short.
        threading.Event().wait()
    # os._exit: the watcher thread still holds stdin's buffer, which a normal interpreter
    # exit would try to close (and abort with "_enter_buffered_busy").
    os._exit(status if status >= 0 else 128 - status)


if __name__ == "__main__":
    main()
