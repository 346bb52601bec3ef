# JupyterHub for one class (deploy/jupyterhub): started by `python deploy/jupyterhub/aula.py`
# (`make aula`), which sets the KAFKALAB_AULA_* variables read here (aula.py says what each is).
#
# - One Docker container per person (DockerSpawner), from the class image: its own network
#   namespace, so a student's brokers (on the container's loopback) are out of everyone else's
#   reach; the class's network also forbids container-to-container traffic altogether.
# - The instructor is in nbgrader's group formgrade-<course> and gets the nbgrader course and
#   the formgrader; students are in nbgrader-<course>. nbgrader's exchange is a Docker volume
#   mounted in every container, and each person has their own Unix id, so its permissions
#   (students cannot list or read each other's submissions) hold as on a shared server.
# - jupyterhub-idle-culler stops servers (and so their Kafka clusters) idle for an hour.
import os
import sys
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parent))
import aula as aula_module  # noqa: E402

c = get_config()  # noqa: F821 - provided by JupyterHub

aula = aula_module.Aula.from_environment()
state = aula.state
port = int(os.environ.get("KAFKALAB_AULA_PUERTO", "8000"))

# The class's network: the hub listens on its gateway (the host's side of the bridge), which
# is the only address the containers must reach; containers cannot reach each other.
client = docker.from_env()
network_name = f"{aula.prefix}-red"
try:
    network = client.networks.get(network_name)
except docker.errors.NotFound:
    network = client.networks.create(
        network_name,
        driver="bridge",
        options={"com.docker.network.bridge.enable_icc": "false"},
        labels={"org.kafkalab.aula": aula.name},
    )
network.reload()
gateway = network.attrs["IPAM"]["Config"][0]["Gateway"]

# The classroom alternative for small servers (--kafka-compartido): one Kafka for the class,
# in this process, listening for the containers on the gateway; each student has their own
# user and password and ACLs on their own prefix (kafkalab.classroom). Its brokers die with
# the hub.
shared_kafka = None
if os.environ.get("KAFKALAB_AULA_KAFKA_COMPARTIDO"):
    from kafkalab import start_classroom

    shared_kafka = start_classroom(aula.students, host=gateway)
    print(f"Kafka compartido de la clase en {shared_kafka.servers}", flush=True)

c.JupyterHub.ip = os.environ.get("KAFKALAB_AULA_IP", "127.0.0.1")
c.JupyterHub.port = port
c.JupyterHub.hub_ip = gateway
c.JupyterHub.hub_port = port + 2
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = [os.environ["KAFKALAB_AULA_PROXY"]]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{port + 1}"
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
# When the hub stops, so do the servers (and their clusters): nothing is left running.
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

# The pages a student reads before their JupyterLab opens, in Spanish.
c.JupyterHub.template_paths = [str(Path(__file__).resolve().parent / "templates")]

# Who may log in, and nbgrader's course groups.
c.JupyterHub.authenticator_class = aula_module.AulaAuthenticator
c.AulaAuthenticator.claves = str(state / "claves.json")
c.Authenticator.allowed_users = set(aula.people)
c.JupyterHub.load_groups = {
    f"formgrade-{aula.course}": {"users": aula.instructors},
    f"nbgrader-{aula.course}": {"users": aula.students},
}

# One container per person.
c.JupyterHub.spawner_class = "docker"
c.DockerSpawner.image = aula.image
c.DockerSpawner.pull_policy = "never"  # built here (build-image.sh), never pulled
c.DockerSpawner.prefix = aula.prefix
c.DockerSpawner.network_name = network_name
c.DockerSpawner.use_internal_ip = True
c.DockerSpawner.remove = True  # the home is a volume; the container goes when it stops
c.DockerSpawner.volumes = {
    f"{aula.prefix}-home-{{username}}": "/home/{username}",
    f"{aula.prefix}-exchange": aula_module.EXCHANGE,
}
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 120


def _settings(spawner):
    return aula_module.container_settings(aula, spawner.user.name, shared_kafka)


def _pre_spawn_hook(spawner):
    settings = _settings(spawner)
    spawner.environment = {**spawner.environment, **settings["environment"]}
    spawner.mem_limit = settings["mem_limit"]
    spawner.cpu_limit = settings["cpu_limit"]


c.Spawner.pre_spawn_hook = _pre_spawn_hook
c.DockerSpawner.extra_host_config = lambda spawner: _settings(spawner)["host_config"]
c.DockerSpawner.extra_create_kwargs = lambda spawner: _settings(spawner)["create_kwargs"]

# Idle servers (no browser, no running kernel) stop after KAFKALAB_AULA_INACTIVIDAD seconds.
c.JupyterHub.services = [
    {
        "name": "idle-culler",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={int(os.environ.get('KAFKALAB_AULA_INACTIVIDAD', '3600'))}",
        ],
    }
]
c.JupyterHub.load_roles = [
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
]
# An administration token for scripts (and the tests), when the launcher is given one.
if os.environ.get("KAFKALAB_AULA_TOKEN_ADMIN"):
    c.JupyterHub.services.append(
        {"name": "aula-admin", "api_token": os.environ["KAFKALAB_AULA_TOKEN_ADMIN"]}
    )
    c.JupyterHub.load_roles.append(
        {
            "name": "aula-admin",
            "scopes": [
                "admin:users",
                "admin:servers",
                "list:users",
                "read:users:activity",
                "read:servers",
                "delete:servers",
                "list:groups",
                "read:groups",
                "list:services",
                "read:services",
            ],
            "services": ["aula-admin"],
        }
    )
