"""kafkalab: real Apache Kafka clusters for a Jupyter course, started in seconds, no Docker.

``Cluster.start(brokers=3)`` (``with`` closes it); in a notebook ``kafkalab.start_cluster(3)``,
then ``%kafka ...``, ``%%kafka_produce TOPIC``, ``watch_consumers(...)``, ``show_cluster()``.

Map: ``kafka/base.py`` is the Kafka contract (``Cluster.start`` picks a backend; ``run()``,
broker control, waits, close, repr); ``kafka/{local,docker,external}.py`` one backend each (JVMs
here, containers, a cluster run elsewhere). ``mongo/base.py`` and ``mongo/{local,docker,
external}.py`` the same for MongoDB; ``mongo/ferretdb.py`` builds FerretDB. ``backends.py``:
backend names, what "auto" means, options a backend refuses. ``processes.py`` (+ ``_guard.py``):
ports, guarded launches (servers die with their owner), orphan sweeps. ``docker_engine.py``:
Docker client, images, Ryuk. ``distribution.py``, ``java.py``, ``training.py``: jars, launch
scripts, Java, class-sharing archives. ``tooljvm.py`` (+ ``toolserver/ToolServer.java``,
``_tool_client.py``): the cluster's warm tool JVM, which runs the CLI tools' main classes
without a JVM per call. ``errors.py``: every error class and
``failure_message()`` (a failed CLI call in Spanish). ``notebook.py``, ``pictures.py``,
``widgets.py``: the notebook layer (magics, environment, live views, quizzes); ``drawings.py``
a partition drawn box by box (lessons 01, 05, 06); ``exercises.py``
the end-of-lesson self-checks and the readers they use; ``lesson_checks.py`` the checks too long
for a lesson cell (``check_exercise("05")``), run on ``crashes.py``, which kills a consumer
function's process around the commit of a chosen offset; ``manual.py`` Kafka started by hand
(``Terminal``: a scratch folder, commands shown as typed, a guarded server). ``share.py``:
console consumers of a share group (``ShareConsumers``, lesson 04). ``connect.py``:
a Kafka Connect worker with the MongoDB sink (``start_mongo_sink``), guarded like a broker.
``kafka_python_fix.py``: a kafka-python 3.0.x rebalance fix. A new backend is one module in
``kafka/`` or ``mongo/`` (subclasses of ``Cluster``/``Broker`` or ``Mongo``, ``BACKEND = ...``)
plus its name in ``backends.NAMES``; the contract tests (tests/kafkalab/kafka) then take it.
"""

from . import kafka_python_fix
from .classroom import ClassroomKafka, start_classroom
from .connect import ConnectWorker, start_mongo_sink
from .crashes import KillPoint, crash_run
from .distribution import Distribution, ensure_kafka
from .drawings import show_offsets, show_partitions, show_transactions
from .errors import KafkaLabError
from .exercises import read_topic, self_check, topic_info
from .kafka import Broker, Cluster, CommandResult
from .lesson_checks import check_exercise
from .mongo import Mongo
from .notebook import (
    current_cluster,
    quiz,
    show_cluster,
    show_group,
    start_cluster,
    watch_consumers,
)
from .notebook import load_ipython_extension as load_ipython_extension  # %load_ext kafkalab

kafka_python_fix.install()

__all__ = [
    "Cluster",
    "Broker",
    "CommandResult",
    "Distribution",
    "ensure_kafka",
    "KafkaLabError",
    "Mongo",
    "start_cluster",
    "current_cluster",
    "watch_consumers",
    "show_cluster",
    "show_group",
    "show_partitions",
    "show_offsets",
    "show_transactions",
    "quiz",
    "self_check",
    "check_exercise",
    "crash_run",
    "KillPoint",
    "topic_info",
    "read_topic",
    "start_mongo_sink",
    "ConnectWorker",
    "start_classroom",
    "ClassroomKafka",
]
