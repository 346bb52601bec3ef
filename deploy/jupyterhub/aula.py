"""The class hub: JupyterHub with one container per person (deploy/jupyterhub).

``python deploy/jupyterhub/aula.py`` (``make aula``) starts it: it builds the class image if
it is missing (build-image.sh), installs JupyterHub's proxy (npm), gives every person of the
class list a password the first time, and runs JupyterHub with ``jupyterhub_config.py``,
which imports this module for the class list (:class:`Aula`), the log-in
(:class:`AulaAuthenticator`) and what each container gets (:func:`container_settings`).

The class list is a TOML file (``aula.toml`` here, or ``--clase``)::

    curso = "kafka-iabd"
    profesorado = ["profe"]
    estudiantes = ["ana", "luis", "marta"]

What the hub keeps lives in its state folder (``--estado``, default ``.aula/<name>``):
JupyterHub's database and cookie secret, each person's Unix id (``uids.json``: stable, so a
home volume keeps its owner) and the password hashes (``claves.json``, scrypt). The passwords
themselves are written once, for the instructor to hand out, to ``claves.csv`` (mode 600).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from jupyterhub.auth import Authenticator
from traitlets import Unicode

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent.parent
FIRST_UID = 2000
EXCHANGE = "/srv/nbgrader/exchange"
# What every part accepts as a name: JupyterHub lowercases the name typed at log-in (an
# «Ana» on the list could never log in), useradd refuses a leading dash and more than 32
# characters (a letter first also keeps a name from reading as a Unix id), and
# kafkalab.classroom's Kafka users are a wider set.
_USERNAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")

__all__ = ["Aula", "AulaAuthenticator", "container_settings", "main"]


class AulaError(Exception):
    """A problem the person starting the hub can fix; its message is Spanish."""


@dataclass
class Aula:
    """One class: its list of people, the hub's state folder and its resources."""

    name: str
    course: str
    instructors: list[str]
    students: list[str]
    state: Path
    image: str = ""
    # Per container (docker's --memory and --cpus); see the README's table for the measures.
    student_memory: str = "2G"
    instructor_memory: str = "4G"
    cpus: float = 2.0
    uids: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, roster: Path, *, name: str, state: Path, image: str = "") -> Aula:
        try:
            data = tomllib.loads(roster.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AulaError(f"No encuentro la lista de la clase: {roster}") from None
        except tomllib.TOMLDecodeError as error:
            raise AulaError(f"La lista de la clase {roster} no es TOML válido: {error}") from None
        instructors = [str(n) for n in data.get("profesorado", [])]
        students = [str(n) for n in data.get("estudiantes", [])]
        if not instructors:
            raise AulaError(f"{roster}: falta «profesorado» (al menos una persona).")
        for person in instructors + students:
            if not _USERNAME.match(person):
                raise AulaError(
                    f"{roster}: «{person}» no sirve como nombre de usuario (minúsculas sin "
                    "acentos, números, - y _, empezando por una letra; hasta 32)."
                )
        repeated = {n for n in instructors + students if (instructors + students).count(n) > 1}
        if repeated:
            raise AulaError(f"{roster}: aparece más de una vez: {', '.join(sorted(repeated))}.")
        aula = cls(
            name=name,
            course=str(data.get("curso", "kafka-iabd")),
            instructors=instructors,
            students=students,
            state=state,
            image=image,
            student_memory=str(data.get("memoria_estudiante", cls.student_memory)),
            instructor_memory=str(data.get("memoria_profesorado", cls.instructor_memory)),
            cpus=float(data.get("cpus", cls.cpus)),
        )
        aula.uids = aula._assign_uids()
        return aula

    @classmethod
    def from_environment(cls) -> Aula:
        """The class the launcher (:func:`main`) described in ``KAFKALAB_AULA_*``."""
        return cls.load(
            Path(os.environ["KAFKALAB_AULA_CLASE"]),
            name=os.environ["KAFKALAB_AULA"],
            state=Path(os.environ["KAFKALAB_AULA_ESTADO"]),
            image=os.environ["KAFKALAB_AULA_IMAGEN"],
        )

    @property
    def people(self) -> list[str]:
        return self.instructors + self.students

    @property
    def prefix(self) -> str:
        """The start of the names of this class's containers, volumes and network."""
        return f"kafkalab-{self.name}"

    def _assign_uids(self) -> dict[str, int]:
        """Each person's Unix id: the one they had, or the next free one (never reused)."""
        path = self.state / "uids.json"
        uids = json.loads(path.read_text()) if path.exists() else {}
        changed = False
        for person in self.people:
            if person not in uids:
                uids[person] = max([FIRST_UID - 1, *uids.values()]) + 1
                changed = True
        if changed:
            self.state.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(uids, indent=1, sort_keys=True))
        return uids

    def ensure_passwords(self) -> list[tuple[str, str]]:
        """Give a password to everyone who has none yet; returns the new (user, password)."""
        hashes_path = self.state / "claves.json"
        hashes = json.loads(hashes_path.read_text()) if hashes_path.exists() else {}
        new = [(p, secrets.token_urlsafe(9)) for p in self.people if p not in hashes]
        if not new:
            return []
        for person, password in new:
            hashes[person] = hash_password(password)
        self.state.mkdir(parents=True, exist_ok=True)
        _write_private(hashes_path, json.dumps(hashes, indent=1, sort_keys=True))
        listing = self.state / "claves.csv"
        rows = []
        if listing.exists():
            rows = list(csv.reader(listing.read_text(encoding="utf-8").splitlines()))[1:]
        rows += [[p, "profesorado" if p in self.instructors else "estudiante", w] for p, w in new]
        lines = ["usuario,papel,clave", *(",".join(r) for r in rows)]
        _write_private(listing, "\n".join(lines) + "\n")
        return new


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text, encoding="utf-8")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, salt, digest = stored.split("$")
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    found = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=2**14, r=8, p=1)
    return hmac.compare_digest(found.hex(), digest)


class AulaAuthenticator(Authenticator):
    """A password per person, checked against the scrypt hashes of ``claves.json``.

    JupyterHub ships only a shared-password authenticator, with which anyone who knows it can
    log in as anyone else: in a graded class, each student must be the only one who can
    submit as themselves. Production hubs put the school's single sign-on here instead
    (oauthenticator, ltiauthenticator) and keep everything else.
    """

    claves = Unicode(config=True, help="JSON file: user -> scrypt hash")

    async def authenticate(self, handler, data):
        username = self.normalize_username(str((data or {}).get("username", "")))
        password = str((data or {}).get("password", ""))
        try:
            hashes = json.loads(Path(self.claves).read_text())
        except (OSError, ValueError):
            self.log.error("No puedo leer las claves de la clase (%s)", self.claves)
            return None
        stored = hashes.get(username)
        if stored and check_password(password, stored):
            return username
        self.log.warning("Clave incorrecta para «%s»", username)
        return None


def container_settings(aula: Aula, username: str, shared_kafka=None) -> dict:
    """What DockerSpawner gives ``username``'s container: environment, limits, security.
    ``shared_kafka`` (a :class:`kafkalab.ClassroomKafka`): the class's shared Kafka, which
    students then use with their own credentials instead of starting brokers."""
    instructor = username in aula.instructors
    environment = {
        "NB_USER": username,
        "NB_UID": str(aula.uids[username]),
        "KAFKALAB_ROLE": "profesor" if instructor else "estudiante",
        "KAFKALAB_INSTRUCTOR_UID": str(aula.uids[aula.instructors[0]]),
        "NBGRADER_COURSE_ID": aula.course,
        "NBGRADER_EXCHANGE_ROOT": EXCHANGE,
    }
    if shared_kafka is not None and not instructor:
        # The external backend with this student's credentials; the entry point writes them
        # to a file only its owner can read (KAFKALAB_CLIENT_CONFIG).
        environment["KAFKA_BOOTSTRAP_SERVERS"] = shared_kafka.servers
        environment["KAFKALAB_AULA_CLIENTE"] = shared_kafka.client_properties(username)
    if instructor:
        # Collect keeps only the submissions each student's own account made.
        environment["KAFKALAB_AULA_UIDS"] = json.dumps(
            {name: aula.uids[name] for name in aula.students}
        )
    # The entry point needs root only to make the account and the exchange's folders; then it
    # drops to the person's id for good. No setuid program can give root back.
    security = ["no-new-privileges"]
    create = {"user": "root"}
    if instructor:
        # The trusted grader runs each submission in a bubblewrap sandbox, which needs user
        # namespaces (Docker's default seccomp and AppArmor profiles forbid them) and a /proc
        # it can mount again (Docker masks parts of /proc, which forbids that): what `docker
        # run --security-opt systempaths=unconfined` sends the engine.
        security += ["seccomp=unconfined", "apparmor=unconfined"]
        create["host_config"] = {"MaskedPaths": [], "ReadonlyPaths": []}
    host_config = {
        "security_opt": security,
        "cap_drop": ["ALL"],
        "cap_add": ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"],
        "pids_limit": 2048,
    }
    return {
        "environment": environment,
        "mem_limit": aula.instructor_memory if instructor else aula.student_memory,
        "cpu_limit": aula.cpus,
        "host_config": host_config,
        "create_kwargs": create,
    }


# --- the launcher --------------------------------------------------------------------------


def _docker_ready() -> None:
    if shutil.which("docker") is None:
        raise AulaError(
            "El aula necesita Docker (un contenedor por estudiante) y aquí no está instalado. "
            "En Debian/Ubuntu: sudo apt-get install docker.io"
        )
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if probe.returncode:
        raise AulaError(
            "Docker está instalado pero el motor no responde (docker info: "
            f"{probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else 'sin salida'}). "
            "Arráncalo (sudo systemctl start docker, o sudo dockerd) y vuelve a probar."
        )


def _ports_free(ip: str, port: int) -> None:
    """The hub's three ports must be free: the proxy would otherwise go on without its API
    (it logs the error and keeps running) and JupyterHub would give up after 10 s."""
    for address, number, use in (
        (ip, port, "la página del aula"),
        ("127.0.0.1", port + 1, "la API del proxy"),
        ("127.0.0.1", port + 2, "el hub"),
    ):
        with socket.socket() as probe:
            # as Node and Tornado bind: a port left in TIME_WAIT is free for them
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, number))
            except OSError as error:
                raise AulaError(
                    f"El puerto {number} ({use}) no está libre en {address}: {error.strerror}. "
                    "El aula usa tres puertos seguidos a partir de --puerto; elige otro "
                    f"(por ejemplo --puerto {port + 10}) o cierra lo que lo ocupa."
                ) from None


def _proxy_command() -> Path:
    proxy = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
    if not proxy.exists():
        if shutil.which("npm") is None:
            raise AulaError(
                "Falta el proxy de JupyterHub (configurable-http-proxy) y no hay npm para "
                "instalarlo. En Debian/Ubuntu: sudo apt-get install npm"
            )
        print("Instalando el proxy de JupyterHub (npm ci)…", flush=True)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=HERE, check=True)
    return proxy


def build_image() -> str:
    """The class image's name, built first when the project changed since the last build."""
    print("Preparando la imagen del aula (la primera vez, unos minutos)…", flush=True)
    built = subprocess.run(
        [str(HERE / "build-image.sh")], stdout=subprocess.PIPE, text=True, cwd=PROJECT
    )
    if built.returncode:
        raise AulaError("No se pudo construir la imagen del aula (el error está arriba).")
    return built.stdout.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python deploy/jupyterhub/aula.py",
        description="El aula en JupyterHub: un contenedor con su propio Kafka por persona.",
    )
    parser.add_argument("--clase", type=Path, default=HERE / "aula.toml", help="lista (TOML)")
    parser.add_argument("--nombre", default="aula", help="nombre del aula (contenedores, red)")
    parser.add_argument("--estado", type=Path, help="carpeta del estado del hub")
    parser.add_argument("--ip", default="127.0.0.1", help="dirección pública del hub")
    parser.add_argument("--puerto", type=int, default=8000, help="puerto público del hub")
    parser.add_argument(
        "--kafka-compartido",
        action="store_true",
        help="un solo Kafka para toda la clase (cada estudiante, sus topics con su prefijo) "
        "en lugar de uno por estudiante: para servidores pequeños",
    )
    args = parser.parse_args(argv)
    state = (args.estado or PROJECT / ".aula" / args.nombre).resolve()
    try:
        _ports_free(args.ip, args.puerto)
        _docker_ready()
        proxy = _proxy_command()
        image = os.environ.get("KAFKALAB_AULA_IMAGEN") or build_image()
        aula = Aula.load(args.clase.resolve(), name=args.nombre, state=state, image=image)
    except AulaError as error:
        print(f"No se puede abrir el aula: {error}", file=sys.stderr)
        return 1
    new = aula.ensure_passwords()
    if new:
        print(f"Claves nuevas para {len(new)} personas en {state / 'claves.csv'} (solo tú).")
    print(
        f"Aula «{aula.name}»: {len(aula.students)} estudiantes, profesorado: "
        f"{', '.join(aula.instructors)}. Imagen {aula.image}.\n"
        f"Abre http://{args.ip}:{args.puerto}/ (Ctrl+C para cerrarla; para los contenedores).",
        flush=True,
    )
    env = dict(os.environ)
    env.update(
        KAFKALAB_AULA=aula.name,
        KAFKALAB_AULA_CLASE=str(args.clase.resolve()),
        KAFKALAB_AULA_ESTADO=str(state),
        KAFKALAB_AULA_IMAGEN=aula.image,
        KAFKALAB_AULA_IP=args.ip,
        KAFKALAB_AULA_PUERTO=str(args.puerto),
        KAFKALAB_AULA_PROXY=str(proxy),
        KAFKALAB_AULA_KAFKA_COMPARTIDO="1" if args.kafka_compartido else "",
    )
    command = [
        str(Path(sys.executable).parent / "jupyterhub"),
        "--config",
        str(HERE / "jupyterhub_config.py"),
    ]
    os.chdir(state)
    # Started in the background by a script, this process has SIGINT ignored, and so would the
    # hub's services (the idle culler): JupyterHub would then wait 30 s for each to stop.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execve(command[0], command, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
