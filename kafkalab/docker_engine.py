"""The Docker engine, through Testcontainers: the client, images, Ryuk, container clean-up.

Testcontainers' Ryuk removes the containers and networks labelled with this process's session
once the process ends, even by SIGKILL (a killed Jupyter kernel);
``TESTCONTAINERS_RYUK_DISABLED=true`` turns that off. Its port is published on 127.0.0.1
only, like every port kafkalab publishes.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import sys
import time

from .errors import DockerUnavailableError

LABEL = "org.kafkalab.owner"  # the org.testcontainers.* labels are testcontainers' own


def docker_client():
    """Testcontainers' client for the Docker engine, or a Spanish error when none answers."""
    from testcontainers.core.docker_client import DockerClient

    try:
        client = DockerClient()
        client.client.ping()
    except Exception as error:  # docker-py raises DockerException, requests' and OS errors
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise DockerUnavailableError(
            f"Has pedido el backend «docker», pero ningún motor de Docker responde en {where}. "
            "Arranca Docker (Docker Desktop, o «sudo systemctl start docker» en Linux) y "
            "comprueba que «docker info» funciona; o usa backend='local', que arranca Kafka "
            f"en este ordenador sin Docker.\nDetalle: {first_line(error)}"
        ) from None
    return client


def start_reaper(client) -> None:
    """Start testcontainers' Ryuk once per process, with its port on 127.0.0.1 only.

    Testcontainers would publish Ryuk's port on every interface; otherwise this does what
    its ``Reaper`` does (testcontainers 4.15): Ryuk learns this session's label and removes
    everything carrying it once our connection closes, that is when this process ends.
    """
    from testcontainers.core.config import testcontainers_config as config
    from testcontainers.core.container import DockerContainer, Reaper
    from testcontainers.core.labels import LABEL_SESSION_ID, SESSION_ID

    if config.ryuk_disabled or Reaper._instance is not None:
        return
    ryuk = (
        DockerContainer(config.ryuk_image)
        .with_name(f"testcontainers-ryuk-{SESSION_ID}")
        .with_volume_mapping(config.ryuk_docker_socket, "/var/run/docker.sock", "rw")
        .with_kwargs(privileged=config.ryuk_privileged, auto_remove=True)
        .with_env("RYUK_RECONNECTION_TIMEOUT", config.ryuk_reconnection_timeout)
    )
    ryuk.ports["8080/tcp"] = ("127.0.0.1",)  # docker-py: this address, any free port
    ensure_image(client, config.ryuk_image)
    Reaper._container = ryuk
    try:
        ryuk.start()
        port = int(ryuk.get_exposed_port(8080))
        deadline = time.monotonic() + 20
        while True:
            try:
                connection = socket.create_connection(("127.0.0.1", port), timeout=2)
                connection.sendall(f"label={LABEL_SESSION_ID}={SESSION_ID}\r\n".encode())
                # Ryuk acknowledges the label: from then on nothing of ours can be orphaned.
                if connection.recv(4).startswith(b"ACK"):
                    break
                connection.close()
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise DockerUnavailableError(
                    f"Ryuk ({config.ryuk_image}), el contenedor que borra los contenedores "
                    "huérfanos, no respondió. Últimas líneas de su registro:\n"
                    + container_log_tail(ryuk)
                )
            time.sleep(0.2)
    except BaseException:
        Reaper.delete_instance()
        raise
    connection.settimeout(None)
    Reaper._socket = connection
    Reaper._instance = Reaper()
    atexit.register(Reaper.delete_instance)


def ensure_image(client, image: str, *, progress: bool = False) -> None:
    """Pull ``image`` unless this Docker has it, with a Spanish error when that fails (no
    registry, or a typo in the image name)."""
    import docker.errors

    try:
        client.client.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    if progress:
        print(f"Descargando la imagen {image} (solo la primera vez)...", file=sys.stderr)
    try:
        client.client.images.pull(image)
    except docker.errors.APIError as error:
        raise DockerUnavailableError(
            f"La imagen «{image}» no está en este Docker y no se pudo descargar: "
            f"{first_line(error)}\nComprueba el nombre y la conexión con el registro de "
            "imágenes. Sin conexión, images/build.sh de este repositorio construye imágenes "
            "equivalentes en local."
        ) from None


def container_log_tail(container, lines: int = 30) -> str:
    with contextlib.suppress(Exception):
        wrapped = container.get_wrapped_container()
        text = wrapped.logs(tail=lines).decode(errors="replace").strip()
        if text:
            return text
    return "(sin registros)"


def container_exit_code(container) -> int | None:
    """A container's exit code once it has ended (crashed, killed, stopped), else None; None
    too when it is gone (removed) or Docker does not answer."""
    try:
        wrapped = container.get_wrapped_container()
        wrapped.reload()
    except Exception:  # docker-py's errors, requests' and OS errors
        return None
    if wrapped.status in ("exited", "dead"):
        return int(wrapped.attrs["State"]["ExitCode"])
    return None


def remove_containers(containers: list, network) -> None:
    """Remove containers (and their anonymous volumes) and the network. Also at exit."""
    for container in containers:
        with contextlib.suppress(Exception):
            container.get_wrapped_container().remove(force=True, v=True)
    if network is not None:
        with contextlib.suppress(Exception):
            network.remove()


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
