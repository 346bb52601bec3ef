"""The class hub (deploy/jupyterhub) started for tests and benchmarks: the class image built
(or found) by build-image.sh, JupyterHub started by aula.py with its own name, ports, state
folder and an administration token; stopped with every container, volume and network it made."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .kafka import wait_for
from .remote_jupyter import RemoteError, RemoteServer, http

REPO = Path(__file__).resolve().parents[2]
HUB = REPO / "deploy" / "jupyterhub"


def docker(*args: str, check=True) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and done.returncode:
        raise AssertionError(f"docker {' '.join(args)}: {done.stderr}")
    return done.stdout


def free_ports(count: int) -> int:
    """A port p such that p .. p+count-1 are all free on 127.0.0.1, below the kernel's
    ephemeral range: there a busy suite's client sockets take ports (the even ones first) at
    any moment, and the proxy's API port, p+1, once lost its port that way."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    chooser = random.Random()
    for _ in range(50):
        base = chooser.randrange(max(1024, low - 12000), low - count)
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
        return base
    raise AssertionError(f"no {count} free ports in a row")


@dataclass
class Hub:
    url: str
    name: str
    state: Path
    log: Path
    process: subprocess.Popen
    admin_token: str
    passwords: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def api(self, path: str, method="GET", *, token: str | None = None, **kwargs):
        return http(f"{self.url}/hub/api{path}", token or self.admin_token, method, **kwargs)

    def login(self, user: str, password: str | None = None) -> str:
        """A token for ``user``, from the hub's API with the user's name and password."""
        body = {"auth": {"username": user, "password": password or self.passwords[user]}}
        return http(f"{self.url}/hub/api/users/{user}/tokens", None, "POST", body=body)["token"]

    def server(self, user: str) -> RemoteServer:
        return RemoteServer(f"{self.url}/user/{user}", self.tokens[user])

    def start(self, user: str) -> None:
        self.api(f"/users/{user}/server", "POST", token=self.tokens[user], body={})

    def wait_ready(self, user: str, timeout: float = 240) -> None:
        def ready():
            self.require_running()
            model = self.api(f"/users/{user}")
            server = model.get("servers", {}).get("")
            if not server and not model.get("pending"):
                raise AssertionError(f"{user}'s server is gone:\n{self.log_tail()}")
            return bool(server and server.get("ready"))

        if not wait_for(ready, timeout):
            raise AssertionError(
                f"{user}'s server was not ready in {timeout} s:\n{self.log_tail()}"
            )

    def require_running(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"the hub died:\n{self.log_tail()}")

    def containers(self) -> list[str]:
        names = docker("ps", "-a", "--format", "{{.Names}}").split()
        return sorted(n for n in names if n.startswith(f"kafkalab-{self.name}-"))

    def container(self, user: str) -> str:
        return f"kafkalab-{self.name}-{user}"

    def ip(self, user: str) -> str:
        networks = json.loads(
            docker(
                "inspect", "--format", "{{json .NetworkSettings.Networks}}", self.container(user)
            )
        )
        return next(iter(networks.values()))["IPAddress"]

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _cgroup_files(container: str) -> tuple[Path, Path]:
    """The host's files with a container's peak memory and CPU time (cgroup v1 or v2)."""
    full_id = docker("inspect", "--format", "{{.Id}}", container).strip()
    v1 = Path("/sys/fs/cgroup/memory/docker") / full_id
    if v1.is_dir():
        cpu = Path("/sys/fs/cgroup/cpuacct/docker") / full_id / "cpuacct.usage"
        return v1 / "memory.max_usage_in_bytes", cpu
    for v2 in (
        Path("/sys/fs/cgroup/system.slice") / f"docker-{full_id}.scope",
        Path("/sys/fs/cgroup/docker") / full_id,
    ):
        if v2.is_dir():
            return v2 / "memory.peak", v2 / "cpu.stat"
    raise AssertionError(f"no cgroup found for container {container}")


def cgroup_usage(container: str) -> tuple[int, float]:
    """(peak memory in bytes, CPU seconds used) of a container, read on the host."""
    memory, cpu = _cgroup_files(container)
    peak = int(memory.read_text().split()[0])
    if cpu.name == "cpuacct.usage":
        return peak, int(cpu.read_text()) / 1e9
    usage = dict(line.split() for line in cpu.read_text().splitlines())
    return peak, int(usage["usage_usec"]) / 1e6


def reset_peak(container: str) -> bool:
    """Start a container's peak memory afresh; False where the kernel cannot."""
    memory, _ = _cgroup_files(container)
    try:
        memory.write_text("0")
    except OSError:
        return False
    return True


@contextlib.contextmanager
def running_hub(
    base: Path, course: str, instructors: list[str], students: list[str], *options: str
) -> Iterator[Hub]:
    """A hub for ``instructors`` and ``students`` with its files in ``base``; ``options`` go
    to aula.py (``--kafka-compartido``)."""
    started = time.monotonic()
    built = subprocess.run(
        [str(HUB / "build-image.sh")], stdout=subprocess.PIPE, text=True, cwd=REPO, timeout=1200
    )
    assert built.returncode == 0, "build-image.sh failed (its output is above)"
    image = built.stdout.split()[-1]
    build_seconds = time.monotonic() - started

    name = f"t{secrets.token_hex(3)}"
    roster = base / "clase.toml"
    roster.write_text(
        f'curso = "{course}"\nprofesorado = {json.dumps(instructors)}\n'
        f"estudiantes = {json.dumps(students)}\n"
    )
    port = free_ports(3)
    admin_token = secrets.token_hex(24)
    log = base / "hub.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "KAFKA"))}
    env.update(KAFKALAB_AULA_IMAGEN=image, KAFKALAB_AULA_TOKEN_ADMIN=admin_token)
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                str(HUB / "aula.py"),
                "--clase",
                str(roster),
                "--nombre",
                name,
                "--estado",
                str(base / "estado"),
                "--puerto",
                str(port),
                *options,
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    instance = Hub(
        url=f"http://127.0.0.1:{port}",
        name=name,
        state=base / "estado",
        log=log,
        process=process,
        admin_token=admin_token,
        passwords={},
    )
    instance.timings["image build (s)"] = build_seconds
    try:

        def answers():
            instance.require_running()
            try:
                return http(f"{instance.url}/hub/api/", None)
            except (RemoteError, OSError):
                return None

        if not wait_for(answers, 120, 0.3):
            raise AssertionError(f"the hub did not answer:\n{instance.log_tail()}")
        with open(instance.state / "claves.csv", encoding="utf-8") as listing:
            instance.passwords = {row["usuario"]: row["clave"] for row in csv.DictReader(listing)}
        yield instance
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for container in instance.containers():
            docker("rm", "-f", container, check=False)
        volumes = docker("volume", "ls", "--format", "{{.Name}}").split()
        for volume in volumes:
            if volume.startswith(f"kafkalab-{name}-"):
                docker("volume", "rm", "-f", volume, check=False)
        docker("network", "rm", f"kafkalab-{name}-red", check=False)
