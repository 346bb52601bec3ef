"""deploy/jupyterhub/aula.py without a hub: the class list, passwords, Unix ids, and what each
container gets (the hub test, test_aula.py, runs them for real)."""

from __future__ import annotations

import importlib.util
import json
import socket
import stat
import sys

import pytest

from tests.support.aula import HUB, free_ports

_spec = importlib.util.spec_from_file_location("deploy_aula", HUB / "aula.py")
aula = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = aula  # its dataclass looks itself up there
_spec.loader.exec_module(aula)


def _roster(tmp_path, students):
    path = tmp_path / "clase.toml"
    path.write_text(f'profesorado = ["profe"]\nestudiantes = {json.dumps(students)}\n')
    return path


def test_ids_stay_with_their_people_when_the_class_grows(tmp_path):
    state = tmp_path / "estado"
    first = aula.Aula.load(_roster(tmp_path, ["ana", "luis"]), name="t", state=state)
    assert first.uids == {"profe": 2000, "ana": 2001, "luis": 2002}
    grown = aula.Aula.load(_roster(tmp_path, ["marta", "ana", "luis"]), name="t", state=state)
    assert grown.uids == {"profe": 2000, "ana": 2001, "luis": 2002, "marta": 2003}


def test_each_person_gets_a_password_once_kept_private(tmp_path):
    state = tmp_path / "estado"
    klass = aula.Aula.load(_roster(tmp_path, ["ana"]), name="t", state=state)
    given = dict(klass.ensure_passwords())
    assert set(given) == {"profe", "ana"}
    assert klass.ensure_passwords() == []  # nobody new
    for name in ("claves.json", "claves.csv"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600
    hashes = json.loads((state / "claves.json").read_text())
    assert given["ana"] not in (state / "claves.json").read_text()
    assert aula.check_password(given["ana"], hashes["ana"])
    assert not aula.check_password(given["profe"], hashes["ana"])
    assert not aula.check_password("", hashes["ana"])


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('estudiantes = ["ana"]\n', "falta «profesorado»"),
        ('profesorado = ["profe"]\nestudiantes = ["maría"]\n', "«maría» no sirve"),
        # JupyterHub lowercases the name typed at log-in: «Ana» could never log in
        ('profesorado = ["profe"]\nestudiantes = ["Ana"]\n', "«Ana» no sirve"),
        ('profesorado = ["ana"]\nestudiantes = ["ana"]\n', "más de una vez: ana"),
        ("profesorado = [\n", "no es TOML válido"),
    ],
)
def test_a_wrong_class_list_is_explained_in_spanish(tmp_path, text, says):
    path = tmp_path / "clase.toml"
    path.write_text(text)
    with pytest.raises(aula.AulaError, match=says):
        aula.Aula.load(path, name="t", state=tmp_path / "estado")


def test_only_the_instructors_container_may_sandbox_and_knows_the_students_ids(tmp_path):
    klass = aula.Aula.load(_roster(tmp_path, ["ana"]), name="t", state=tmp_path / "estado")
    student = aula.container_settings(klass, "ana")
    instructor = aula.container_settings(klass, "profe")
    assert student["environment"]["KAFKALAB_ROLE"] == "estudiante"
    assert "KAFKALAB_AULA_UIDS" not in student["environment"]
    assert student["host_config"]["security_opt"] == ["no-new-privileges"]
    assert "host_config" not in student["create_kwargs"]  # /proc stays masked
    assert json.loads(instructor["environment"]["KAFKALAB_AULA_UIDS"]) == {"ana": 2001}
    assert "seccomp=unconfined" in instructor["host_config"]["security_opt"]
    assert student["mem_limit"] == "2G" and instructor["mem_limit"] == "4G"


def test_a_taken_port_is_refused_in_spanish_before_anything_starts(tmp_path, capsys):
    """The proxy's API port (--puerto + 1) taken: the proxy would log the error and run on
    without its API, and JupyterHub would give up 10 s later with a traceback."""
    base = free_ports(3)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 1))
        squatter.listen()
        code = aula.main(
            [
                "--clase",
                str(_roster(tmp_path, ["ana"])),
                "--estado",
                str(tmp_path / "e"),
                "--puerto",
                str(base),
            ]
        )
    assert code == 1
    error = capsys.readouterr().err
    assert f"El puerto {base + 1} (la API del proxy) no está libre en 127.0.0.1" in error
    assert f"--puerto {base + 10}" in error
    assert not (tmp_path / "e").exists()
