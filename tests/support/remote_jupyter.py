"""A person's Jupyter server reached through JupyterHub, the way JupyterLab reaches it: its REST
API for files and nbgrader's buttons, and a kernel's websocket to run a notebook's cells.

nbclient runs notebooks in kernels it starts itself; a kernel behind a hub is reached only
through the server's websocket, for which no maintained client exists outside the browser, so
this one speaks Jupyter's messaging protocol (JSON over the websocket) for ``execute_request``.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field

import websocket


class RemoteError(Exception):
    pass


@dataclass
class CellRun:
    index: int
    source: str
    outputs: list[dict] = field(default_factory=list)
    error: dict | None = None
    seconds: float = 0.0

    @property
    def text(self) -> str:
        """The cell's stream and display text, as a person would read it."""
        parts = []
        for output in self.outputs:
            if output.get("name") in ("stdout", "stderr"):
                parts.append(output.get("text", ""))
            data = output.get("data") or {}
            if "text/plain" in data:
                parts.append(data["text/plain"])
            if "text/html" in data:
                parts.append(data["text/html"])
        return "".join(parts)


def http(url: str, token: str | None, method="GET", *, body=None, form=None, timeout=60.0):
    """JSON from ``url`` with the token (if any) in the Authorization header (``form`` is sent
    form-encoded, ``body`` as JSON); raises :class:`RemoteError` with the server's answer."""
    headers = {"Authorization": f"token {token}"} if token else {}
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        raise RemoteError(f"{method} {url}: {error.code} {error.read()[:2000]!r}") from None
    return json.loads(raw) if raw.strip() else None


class RemoteServer:
    """The single-user server at ``base`` (``http://hub/user/<name>``), as ``token``'s owner."""

    def __init__(self, base: str, token: str):
        self.base = base.rstrip("/")
        self.token = token

    def api(self, path: str, method="GET", **kwargs):
        return http(f"{self.base}{path}", self.token, method, **kwargs)

    def read_notebook(self, path: str) -> dict:
        return self.api(f"/api/contents/{urllib.parse.quote(path)}?type=notebook&content=1")[
            "content"
        ]

    def write_notebook(self, path: str, notebook: dict) -> None:
        self.api(
            f"/api/contents/{urllib.parse.quote(path)}",
            "PUT",
            body={"type": "notebook", "format": "json", "content": notebook},
        )

    def kernel(self, path: str) -> RemoteKernel:
        """A new kernel for the notebook at ``path`` (a session, as JupyterLab opens one: the
        kernel runs in the notebook's folder); use it in a ``with`` block, which shuts it down."""
        return RemoteKernel(self, path)

    def run_notebook(self, path: str, *, cell_timeout: float = 300.0) -> list[CellRun]:
        """Run the code cells of the notebook at ``path`` in a new kernel, stopping at the
        first error; the kernel is shut down at the end."""
        notebook = self.read_notebook(path)
        runs: list[CellRun] = []
        with self.kernel(path) as kernel:
            for index, cell in enumerate(notebook["cells"]):
                if cell["cell_type"] != "code":
                    continue
                source = cell["source"]
                source = source if isinstance(source, str) else "".join(source)
                run = kernel.run(source, timeout=cell_timeout, index=index)
                runs.append(run)
                if run.error:
                    break
        return runs


class RemoteKernel:
    """A kernel of a :class:`RemoteServer`, reached through its websocket."""

    def __init__(self, server: RemoteServer, path: str):
        self.server = server
        self.path = path
        self.session: dict | None = None
        self.channel = None

    def __enter__(self) -> RemoteKernel:
        self.session = self.server.api(
            "/api/sessions",
            "POST",
            body={
                "path": self.path,
                "name": self.path,
                "type": "notebook",
                "kernel": {"name": "python3"},
            },
        )
        kernel = self.session["kernel"]["id"]
        url = (
            self.server.base.replace("http://", "ws://", 1)
            + f"/api/kernels/{kernel}/channels?session_id={uuid.uuid4().hex}"
        )
        self.channel = websocket.create_connection(
            url, header=[f"Authorization: token {self.server.token}"], timeout=600
        )
        return self

    def __exit__(self, *exc_info) -> None:
        with contextlib.suppress(Exception):
            self.channel.close()
        self.server.api(f"/api/sessions/{self.session['id']}", "DELETE")

    def run(self, code: str, *, timeout: float = 300.0, index: int = 0) -> CellRun:
        """Run ``code`` as a cell; its outputs and error, if any."""
        return self._execute(self.channel, index, code, timeout)

    @staticmethod
    def _execute(channel, index: int, source: str, timeout: float) -> CellRun:
        msg_id = uuid.uuid4().hex
        channel.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "username": "test",
                        "session": uuid.uuid4().hex,
                        "date": "",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {
                        "code": source,
                        "silent": False,
                        "store_history": True,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        run = CellRun(index=index, source=source)
        started = time.monotonic()
        replied = idle = False
        while not (replied and idle):
            if time.monotonic() - started > timeout:
                raise RemoteError(f"cell {index} ran over {timeout} s:\n{source[:300]}")
            message = json.loads(channel.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["header"]["msg_type"]
            content = message["content"]
            if message["channel"] == "shell" and kind == "execute_reply":
                replied = True
                if content.get("status") == "error":
                    run.error = content
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
            elif kind in ("stream", "display_data", "execute_result"):
                run.outputs.append(content)
            elif kind == "error":
                run.error = content
        run.seconds = time.monotonic() - started
        return run
