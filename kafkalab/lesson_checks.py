"""The self-checks of the lessons' exercises that need more than a few lines of a lesson cell.

A lesson's check cell is one call, ``kafkalab.check_exercise("05")``. It reads the live
cluster (and MongoDB), never the student's variables, except the function an exercise asks
for (``facturar`` in 05, ``guardar_productos`` in 09), which it takes from the notebook by name.
Lessons 05 and 09 run that function under :mod:`kafkalab.crashes`: killed with ``SIGKILL`` just
before, and then just after, it commits the offset of a chosen message, and restarted; then
they count what was lost or repeated. At-most-once (commit, then process) loses the message
killed after its commit; at-least-once (process, then commit) repeats the one killed before
its commit; a consumer that commits late repeats more than that one message.
"""

from __future__ import annotations

import html
import re
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .crashes import AFTER_COMMIT, BEFORE_COMMIT, CrashRun, KillPoint, crash_run
from .errors import KafkaLabError
from .exercises import Result, SelfCheck, cluster_of, read_topic, run_check, self_check, topic_info
from .kafka.base import Cluster
from .readers import admin_client, eventually, group_offsets, user_topics

__all__ = ["CrashTrial", "CrashCheck", "check_exercise"]

_CLIENT = "kafkalab-ejercicio"
_RUN_TIMEOUT_S = 40  # one run of the student's function, killed or not
_GROUP_EMPTY_TIMEOUT_S = 60  # a killed member leaves its group after session.timeout.ms


def _from_notebook(name: str, given: object | None) -> object | None:
    if given is not None:
        return given
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - kafkalab runs in Jupyter
        return None
    shell = get_ipython()
    return shell.user_ns.get(name) if shell is not None else None


def _missing(name: str, arguments: str) -> SelfCheck:
    return SelfCheck(
        [Result(f"Has definido la función {name}({arguments})", False, "todavía no existe")]
    )


# --- lesson 00 --------------------------------------------------------------------------------


def _hello(cluster: Cluster) -> SelfCheck:
    topic = "mi-primer-topic"

    def message(number: int) -> str:
        messages = [r.value.decode() for r in read_topic(topic, cluster=cluster)]
        if len(messages) < number:
            raise AssertionError(f"el topic tiene {len(messages)} mensajes")
        return messages[number - 1]

    def your_name() -> str:
        greeting = re.fullmatch(r"Hola, soy (.+)", message(1))
        if not greeting or greeting.group(1).strip() in {"Nombre", "<Nombre>", "tu nombre"}:
            raise AssertionError(f"el primer mensaje es «{message(1)}»")
        return greeting.group(1).strip()

    def read_by_readers() -> dict[int, int]:
        with admin_client(cluster.reachable_servers(), client_id=_CLIENT) as admin:
            rows = group_offsets(admin, "lectores", [topic])
        return {row.partition: row.committed for row in rows if row.committed is not None}

    return self_check(
        ("Existe el topic «mi-primer-topic»", lambda: topic in topic_info(cluster=cluster)),
        ("Guarda exactamente tres mensajes", lambda: len(read_topic(topic, cluster=cluster)) == 3),
        ("El primero es «Hola, soy …» con tu nombre", your_name),
        (
            "El segundo es «Estoy aprendiendo Kafka»",
            lambda: message(2) == "Estoy aprendiendo Kafka",
        ),
        (
            "El tercero es «Hasta luego, …» con el mismo nombre",
            lambda: message(3) == f"Hasta luego, {your_name()}",
        ),
        ("El grupo «lectores» ha leído los tres", lambda: read_by_readers() == {0: 3}),
    )


# --- lessons 01 and 02 -------------------------------------------------------------------------


def _shifts(cluster: Cluster) -> SelfCheck:
    def partition(number: int, expected: list[str]) -> bool:
        messages = read_topic("turnos", cluster=cluster)
        found = [(m.offset, m.value.decode()) for m in messages if m.partition == number]
        if found != list(enumerate(expected)):
            raise AssertionError(f"tiene {found}")
        return True

    def info():
        return topic_info("turnos", cluster=cluster)

    return self_check(
        ("Existe el topic «turnos» con 4 particiones", lambda: info().partitions == 4),
        (
            "Su retención es de dos días",
            lambda: info().configs.get("retention.ms") == str(2 * 86_400_000),
        ),
        (
            "La partición 2 guarda 1, 2, 3, 4 y 5 en los offsets 0 a 4",
            lambda: partition(2, ["1", "2", "3", "4", "5"]),
        ),
        ("La partición 0 guarda a, b y c en los offsets 0 a 2", lambda: partition(0, list("abc"))),
        ("La partición 1 está vacía", lambda: partition(1, [])),
        ("La partición 3 está vacía", lambda: partition(3, [])),
    )


def _invoices(cluster: Cluster) -> SelfCheck:
    def invoices():
        return topic_info("facturas", cluster=cluster)

    def factor_3() -> bool:
        factor = invoices().replication_factor
        if factor != 3:
            raise AssertionError(
                f"tiene factor {factor}; con 3, un broker parado deja dos réplicas en el ISR"
            )
        return True

    def minimum_2() -> bool:
        minimum = invoices().configs.get("min.insync.replicas", "1")
        if minimum != "2":
            raise AssertionError(f"min.insync.replicas vale {minimum}")
        return True

    def three_with_key() -> bool:
        messages = read_topic("facturas", cluster=cluster)
        return len(messages) >= 3 and all(message.key for message in messages)

    return self_check(
        ("Existe el topic «facturas» con 3 particiones", lambda: invoices().partitions == 3),
        ("Cada partición tiene 3 réplicas (factor de replicación 3)", factor_3),
        ("La configuración del topic tiene min.insync.replicas=2", minimum_2),
        ("Guarda al menos tres facturas, todas con clave", three_with_key),
    )


# --- lesson 03 --------------------------------------------------------------------------------

CUSTOMERS = ["ana", "luis", "marta", "pedro"]
EVENTS = ["alta", "compra", "pago", "envío"]


def _customer_events(cluster: Cluster) -> SelfCheck:
    topic = "eventos-clientes"

    expected = len(CUSTOMERS) * len(EVENTS)
    found: list[tuple[str | None, int, str]] = []

    def events() -> list[tuple[str | None, int, str]]:
        """The topic's messages, read once. A consumer sees a partition up to its high
        watermark, which with acks=1 follows the leader's log by a replication round: read
        again for a moment while fewer than the 16 messages show."""
        if len(found) >= expected:
            return found

        def read() -> bool | None:
            found[:] = [
                (r.key.decode() if r.key else None, r.partition, r.value.decode())
                for r in read_topic(topic, cluster=cluster)
            ]
            return len(found) >= expected or None

        eventually(read, timeout=3)
        return found

    def right_topic() -> bool:
        info = topic_info(topic, cluster=cluster)
        return info.partitions == 4 and info.replication_factor == 3

    def in_order() -> bool:
        messages = events()
        for customer in CUSTOMERS:
            theirs = [value for key, _, value in messages if key == customer]
            if theirs != EVENTS:
                raise AssertionError(f"{customer}: {theirs}")
        return len(messages) == expected

    def one_partition_each() -> bool:
        messages = events()
        return all(len({p for key, p, _ in messages if key == c}) == 1 for c in CUSTOMERS)

    def idempotent() -> bool:
        from kafka import TopicPartition

        partitions = sorted({p for _, p, _ in events()})
        if not partitions:
            raise AssertionError("el topic no tiene mensajes")
        with admin_client(cluster.reachable_servers(), client_id=_CLIENT) as admin:
            state = admin.describe_producers([TopicPartition(topic, p) for p in partitions])
        without = sorted(
            tp.partition
            for tp, entry in state.items()
            if not any(producer.producer_id >= 0 for producer in entry.active_producers)
        )
        if without:
            raise AssertionError(
                "Kafka no conoce ningún productor idempotente en "
                + ", ".join(f"{topic}-{p}" for p in without)
                + ": algún ajuste la desactivó (mira acks y max_in_flight_requests_per_connection)"
            )
        return True

    return self_check(
        ("Existe «eventos-clientes» con 4 particiones y factor de replicación 3", right_topic),
        ("Cada cliente tiene sus cuatro eventos y en orden (16 mensajes)", in_order),
        ("Todos los eventos de un cliente están en una sola partición", one_partition_each),
        ("Los escribió un productor idempotente (por tanto, con acks=all)", idempotent),
    )


# --- lessons 06 and 08 -------------------------------------------------------------------------


def _transfers(cluster: Cluster) -> SelfCheck:
    def transfers(isolation: str) -> list[str]:
        messages = read_topic("transferencias", cluster=cluster, isolation_level=isolation)
        return [m.value.decode() for m in messages]

    def state_of(transactional_id: str) -> str:
        from kafka.errors import KafkaError

        with admin_client(cluster.reachable_servers(), client_id=_CLIENT) as admin:
            try:
                described = admin.describe_transactions([transactional_id])[transactional_id]
            except (KafkaError, KeyError):
                raise AssertionError(
                    f"Kafka no conoce el transactional_id «{transactional_id}»"
                ) from None
        return described.state.value

    return self_check(
        (
            "Existe el topic «transferencias» con 1 partición",
            lambda: topic_info("transferencias", cluster=cluster).partitions == 1,
        ),
        (
            "Con read_committed se ve solo la transacción confirmada: cargo 40, abono 40",
            lambda: transfers("read_committed") == ["cargo 40", "abono 40"],
        ),
        (
            "Con read_uncommitted se ven también los mensajes abortados: cargo 999, abono 999",
            lambda: (
                transfers("read_uncommitted") == ["cargo 40", "abono 40", "cargo 999", "abono 999"]
            ),
        ),
        (
            "El productor transaccional «banco-1» terminó abortando su última transacción",
            lambda: state_of("banco-1") in ("PrepareAbort", "CompleteAbort"),
        ),
    )


def _temperatures(cluster: Cluster, readings: object, confirmed: object) -> SelfCheck:
    """Lesson 08: the notebook's ``lecturas`` sent as JSON keyed by sensor, and the callback's
    list ``confirmadas`` of (partition, offset)."""
    import json

    from kafka.serializer import DefaultSerializer, JsonSerializer

    def messages() -> list:
        return read_topic(
            "temperaturas",
            cluster=cluster,
            key_deserializer=DefaultSerializer(),
            value_deserializer=JsonSerializer(),
        )

    def each_reading_once() -> bool:
        if not isinstance(readings, list):
            raise AssertionError("no encuentro la lista «lecturas»: ejecuta el cuaderno entero")
        values = [message.value for message in messages()]
        if len(values) != len(readings):
            raise AssertionError(
                f"hay {len(values)} mensajes en el topic y {len(readings)} lecturas"
            )
        return sorted(json.dumps(v, sort_keys=True) for v in values) == sorted(
            json.dumps(reading, sort_keys=True) for reading in readings
        )

    def key_is_the_sensor() -> bool:
        found = messages()
        return bool(found) and all(m.key == (m.value or {}).get("sensor") for m in found)

    def one_partition_per_sensor() -> bool:
        partitions: dict[str, set[int]] = {}
        for message in messages():
            partitions.setdefault(message.key, set()).add(message.partition)
        sensors = {reading["sensor"] for reading in readings or []}
        return set(partitions) == sensors and all(len(p) == 1 for p in partitions.values())

    def callback_noted_them() -> bool:
        if not isinstance(confirmed, list):
            raise AssertionError("no encuentro la lista «confirmadas»")
        in_topic = [(message.partition, message.offset) for message in messages()]
        return bool(in_topic) and sorted(tuple(pair) for pair in confirmed) == sorted(in_topic)

    return self_check(
        (
            "Existe el topic «temperaturas» con 3 particiones",
            lambda: topic_info("temperaturas", cluster=cluster).partitions == 3,
        ),
        ("Cada lectura está en el topic una sola vez, como JSON", each_reading_once),
        ("La clave de cada mensaje es el nombre de su sensor", key_is_the_sensor),
        ("Todas las lecturas de un sensor están en la misma partición", one_partition_per_sensor),
        (
            "«confirmadas» tiene la partición y el offset de cada mensaje del topic",
            callback_noted_them,
        ),
    )


# --- lessons 04 and 07 -------------------------------------------------------------------------


def _reports(cluster: Cluster) -> SelfCheck:
    from .pictures import picture_group

    def committed_by_reports() -> bool:
        committed = [row.committed for row in picture_group(cluster, "informes", "facturas").rows]
        if not any(offset is not None for offset in committed):
            raise AssertionError("el grupo «informes» no ha confirmado nada en «facturas»")
        if committed != [5]:
            raise AssertionError(f"ha confirmado {committed}; tiene que ser [5]")
        return True

    def no_consumer_left() -> bool:
        group = picture_group(cluster, "informes")
        if not group.exists:
            raise AssertionError("el grupo «informes» no existe todavía")
        if group.members:
            raise AssertionError(f"tiene {len(group.members)} consumidor(es) en marcha")
        return True

    return self_check(
        (
            "Existe el topic «facturas» con una partición",
            lambda: topic_info("facturas", cluster=cluster).partitions == 1,
        ),
        (
            "«facturas» guarda 10 facturas",
            lambda: len(read_topic("facturas", cluster=cluster)) == 10,
        ),
        (
            "El grupo «informes» ha confirmado el offset 5 (leyó las 5 primeras)",
            committed_by_reports,
        ),
        (
            "A «informes» le quedan 5 facturas por leer (LAG 5)",
            lambda: picture_group(cluster, "informes", "facturas").total_lag == 5,
        ),
        ("No queda ningún consumidor de «informes» en marcha", no_consumer_left),
    )


def quorum_leader(cluster: Cluster) -> int | None:
    """The KRaft quorum's leader (the active controller), as kafka-metadata-quorum.sh tells it."""
    status = cluster.run("kafka-metadata-quorum.sh describe --status", check=False, timeout=30)
    found = re.search(r"LeaderId:\s+(-?\d+)", status.stdout)
    if found is None or int(found.group(1)) < 0:
        return None
    return int(found.group(1))


def _relay(cluster: Cluster) -> SelfCheck:
    """Lesson 07: the first active controller (noted in controlador-inicial.txt) is down, the
    quorum elected another, and «tras-el-relevo» has no replica on the stopped node."""

    def noted() -> int:
        path = Path("controlador-inicial.txt")
        if not path.exists():
            raise AssertionError("ejecuta antes la celda que apunta el controlador activo")
        return int(path.read_text())

    def running_nodes() -> set[int]:
        with admin_client(cluster.reachable_servers(), client_id=_CLIENT) as admin:
            brokers = admin.describe_cluster()["brokers"]
        return {broker["broker_id"] for broker in brokers if not broker.get("is_fenced")}

    def new_leader() -> bool:
        leader = quorum_leader(cluster)
        if leader is None:
            raise AssertionError("el quórum no tiene líder: ¿te has quedado sin mayoría?")
        return leader != noted()

    def nodes_with_replicas(topic: str) -> set[int]:
        with admin_client(cluster.reachable_servers(), client_id=_CLIENT) as admin:
            if topic not in user_topics(admin):
                raise AssertionError(f"aún no existe «{topic}»")
            (described,) = admin.describe_topics([topic])
        return {
            node for partition in described["partitions"] for node in partition["replica_nodes"]
        }

    def shape() -> bool:
        info = topic_info("tras-el-relevo", cluster=cluster)
        return info.partitions == 3 and info.replication_factor == 2

    return self_check(
        (
            "El controlador activo del principio está apagado",
            lambda: noted() not in running_nodes(),
        ),
        ("El quórum ha elegido otro controlador activo", new_leader),
        ("Existe «tras-el-relevo» con 3 particiones y factor de replicación 2", shape),
        (
            "«tras-el-relevo» se creó con ese nodo apagado: ninguna réplica está en él",
            lambda: noted() not in nodes_with_replicas("tras-el-relevo"),
        ),
    )


# --- lessons 05 and 09: crash trials ----------------------------------------------------------


@dataclass
class CrashTrial:
    """One kill-and-restart of the student's function, and what it left behind."""

    moment: str  # crashes.BEFORE_COMMIT or AFTER_COMMIT
    killed_run: CrashRun
    restart: CrashRun
    lost: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    committed_to_end: bool = False


def _run_problem(run: CrashRun) -> str:
    if run.timed_out:
        return f"no terminó en {_RUN_TIMEOUT_S} s (¿pusiste un plazo o consumer_timeout_ms?)"
    if run.error.startswith("murió"):
        return run.error
    if run.error:
        return f"lanzó {run.error}"
    return ""


@dataclass
class CrashCheck(SelfCheck):
    """A self-check that also shows its crash trials as a table."""

    title: str = ""
    message: str = ""
    trials: list[CrashTrial] = field(default_factory=list)
    lost_label: str = "perdidos"
    repeated_label: str = "repetidos"

    def _rows(self) -> list[tuple[str, str, str, str]]:
        rows = []
        for trial in self.trials:
            died = (
                f"sí, {trial.moment}"
                if trial.killed_run.killed
                else "no: nunca confirmó ese offset"
            )
            rows.append(
                (
                    died,
                    ", ".join(trial.lost) or "ninguno",
                    ", ".join(trial.repeated) or "ninguno",
                    "sí" if trial.committed_to_end else "no",
                )
            )
        return rows

    def _header(self) -> tuple[str, ...]:
        return (
            f"¿murió a mitad de {self.message}?",
            self.lost_label,
            self.repeated_label,
            "todo confirmado",
        )

    def __repr__(self) -> str:
        lines = [self.title]
        for row in self._rows():
            pairs = zip(self._header(), row, strict=True)
            lines.append("  " + " · ".join(f"{h}: {v}" for h, v in pairs))
        return "\n".join(lines + ["", super().__repr__()])

    def _repr_html_(self) -> str:
        cell = 'style="border:1px solid #c5cbd3;padding:3px 8px;text-align:left"'
        head = "".join(f"<th {cell}>{html.escape(h)}</th>" for h in self._header())
        body = "".join(
            "<tr>" + "".join(f"<td {cell}>{html.escape(v)}</td>" for v in row) + "</tr>"
            for row in self._rows()
        )
        table = (
            '<div style="font-family:system-ui,sans-serif;margin-bottom:8px">'
            f"<b>{html.escape(self.title)}</b>"
            f'<table style="border-collapse:collapse;margin-top:4px"><tr>{head}</tr>{body}'
            "</table></div>"
        )
        return table + super()._repr_html_()


def _empty_group(cluster: Cluster, group: str) -> None:
    """Remove the members of ``group``, all dead: the killed run was its only member. A member
    killed while subscribed would keep its partitions until its session times out (45 s by
    default), and the restart would wait that long to get them. LeaveGroup by member id is
    what a consumer sends when it closes; then wait (bounded) until the group has no member."""
    from kafka.admin import MemberToRemove

    with admin_client(cluster.reachable_servers(), client_id=_CLIENT) as admin:

        def members() -> list[str]:
            described = admin.describe_groups([group]).get(group) or {}
            return [member["member_id"] for member in described.get("members") or []]

        dead = members()
        if dead:
            admin.remove_group_members(group, [MemberToRemove(member_id=m) for m in dead])
            eventually(lambda: not members() or None, timeout=_GROUP_EMPTY_TIMEOUT_S)


def _trial(
    cluster: Cluster,
    function: Callable,
    group: str,
    point: KillPoint,
    make_args: Callable[[], tuple],
) -> CrashTrial:
    killed_run = crash_run(function, make_args=make_args, kill=point, timeout=_RUN_TIMEOUT_S)
    if killed_run.killed:
        _empty_group(cluster, group)
    restart = crash_run(function, make_args=make_args, timeout=_RUN_TIMEOUT_S)
    return CrashTrial(point.moment, killed_run, restart)


def _committed_to_end(cluster: Cluster, group: str, topic: str, upto: dict[int, int]) -> bool:
    with admin_client(cluster.reachable_servers(), client_id=_CLIENT) as admin:
        rows = group_offsets(admin, group, [topic])
    return {row.partition: row.committed for row in rows if row.partition in upto} == upto


def _runs_check(trials: list[CrashTrial]) -> Callable[[], bool]:
    def check() -> bool:
        for trial in trials:
            for run in (trial.killed_run, trial.restart):
                problem = _run_problem(run)
                if problem:
                    raise AssertionError(f"tu función {problem}")
        return True

    return check


def _killed_check(trials: list[CrashTrial], what: str) -> Callable[[], bool]:
    def check() -> bool:
        if not all(trial.killed_run.killed for trial in trials):
            raise AssertionError(f"tu función nunca confirmó el offset de {what}")
        return True

    return check


def _lost_check(trials: list[CrashTrial]) -> Callable[[], bool]:
    def check() -> bool:
        for trial in trials:
            if trial.lost:
                raise AssertionError(
                    f"al matarla {trial.moment} se perdió {', '.join(trial.lost)}: "
                    "¿confirmas antes de procesar?"
                )
        return True

    return check


def _token() -> str:
    return uuid.uuid4().hex[:6]


def _billing(cluster: Cluster, facturar: Callable | None) -> SelfCheck:
    """Lesson 05: ``facturar(grupo, fichero)`` bills payments 0 to 11 at least once."""
    if not callable(facturar):
        return _missing("facturar", "grupo, fichero")
    payments = [r.value.decode() for r in read_topic("pagos", cluster=cluster) if r.partition == 0]
    first = payments[:12]
    if len(first) < 12:
        raise KafkaLabError(
            "El topic «pagos» no tiene sus pagos: ejecuta el cuaderno desde arriba."
        )
    crashed = first[5]
    folder = Path(tempfile.mkdtemp(prefix="kafkalab-facturacion-"))
    token = _token()
    trials: list[CrashTrial] = []
    try:
        for number, moment in enumerate((BEFORE_COMMIT, AFTER_COMMIT), start=1):
            group = f"facturacion-prueba-{token}-{number}"
            path = folder / f"facturados-{number}.txt"
            args = (group, str(path))
            trial = _trial(
                cluster, facturar, group, KillPoint("pagos", 0, 5, moment), lambda a=args: a
            )
            lines = path.read_text().splitlines() if path.exists() else []
            counts = Counter(lines)
            trial.lost = [p for p in first if p not in counts]
            trial.repeated = sorted(p for p, n in counts.items() if n > 1)
            trial.extra = sorted(set(lines) - set(first))
            trial.committed_to_end = _committed_to_end(cluster, group, "pagos", {0: 12})
            trials.append(trial)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    before, after = trials

    def only_the_one_in_flight() -> bool:
        if after.repeated or not set(before.repeated) <= {crashed}:
            repeated = sorted(set(before.repeated) | set(after.repeated))
            raise AssertionError(f"se repitió {', '.join(repeated)}: ¿confirmas cada pago?")
        return True

    def ends_at_twelve() -> bool:
        for trial in trials:
            if trial.extra:
                raise AssertionError(f"apuntó también {', '.join(trial.extra)}")
            if not trial.committed_to_end:
                raise AssertionError("el grupo no terminó con el offset 12 confirmado")
        return True

    checks = [
        ("Tu función termina sola, sin errores", _runs_check(trials)),
        (f"Muere donde toca: al confirmar el offset de {crashed}", _killed_check(trials, crashed)),
        (
            f"No se pierde ningún pago, la maten antes o después de confirmar {crashed}",
            _lost_check(trials),
        ),
        (
            f"Solo se repite el pago que estaba a medias ({crashed}), y solo si muere antes de "
            "confirmarlo",
            only_the_one_in_flight,
        ),
        (
            "Al final, el grupo tiene confirmado el offset 12 y solo se apuntaron "
            "pago-00 a pago-11",
            ends_at_twelve,
        ),
    ]
    return CrashCheck(
        [run_check(text, check) for text, check in checks],
        title="facturar(), matada con SIGKILL y reiniciada",
        message=crashed,
        trials=trials,
    )


def _catalog(cluster: Cluster, guardar: Callable | None, mongo) -> SelfCheck:
    """Lesson 09: ``guardar_productos(grupo, coleccion)`` keeps the latest of each product."""
    if not callable(guardar):
        return _missing("guardar_productos", "grupo, coleccion")
    if mongo is None:
        raise KafkaLabError("No hay MongoDB: ejecuta la primera celda del cuaderno.")
    from kafka.serializer import DefaultSerializer, JsonSerializer

    records = read_topic(
        "productos",
        cluster=cluster,
        key_deserializer=DefaultSerializer(),
        value_deserializer=JsonSerializer(),
    )
    latest = {record.key: record.value for record in records}
    last_of = {record.key: record for record in records}
    if "P007" not in last_of:
        raise KafkaLabError("El topic «productos» no tiene el catálogo: ejecuta la celda anterior.")
    target = last_of["P007"]
    ends: dict[int, int] = {}
    for record in records:
        ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
    crashed = f"la última versión de P007 (offset {target.offset} de productos-{target.partition})"
    uri = mongo.uri
    database = mongo.client()["curso"]
    token = _token()
    trials: list[CrashTrial] = []
    documents: list[list[dict]] = []
    for number, moment in enumerate((BEFORE_COMMIT, AFTER_COMMIT), start=1):
        group = f"guardar-productos-prueba-{token}-{number}"
        name = f"productos_prueba_{number}"
        database.drop_collection(name)

        def make_args(group: str = group, name: str = name) -> tuple:
            from pymongo import MongoClient

            from .mongo.base import CLIENT_TIMEOUTS

            return group, MongoClient(uri, **CLIENT_TIMEOUTS)["curso"][name]

        point = KillPoint("productos", target.partition, target.offset, moment)
        trial = _trial(cluster, guardar, group, point, make_args)
        saved = list(database[name].find())
        database.drop_collection(name)
        by_id = {document["_id"]: document for document in saved}
        trial.lost = sorted(
            code
            for code, product in latest.items()
            if code not in by_id or any(by_id[code].get(k) != v for k, v in product.items())
        )
        trial.extra = sorted(str(key) for key in by_id if key not in latest)
        trial.repeated = trial.extra  # what a repeat leaves in MongoDB: documents of more
        trial.committed_to_end = _committed_to_end(cluster, group, "productos", ends)
        trials.append(trial)
        documents.append(saved)

    def one_document_each() -> bool:
        for trial, saved in zip(trials, documents, strict=True):
            if trial.extra:
                raise AssertionError(
                    f"hay {len(saved)} documentos para {len(latest)} productos: usa el código "
                    "como _id y replace_one(..., upsert=True)"
                )
        return True

    def whole_topic() -> bool:
        return all(trial.committed_to_end for trial in trials)

    checks = [
        ("Tu función termina sola, sin errores", _runs_check(trials)),
        (
            "Muere donde toca: al confirmar la última versión de P007",
            _killed_check(trials, "la última versión de P007"),
        ),
        (
            "La maten antes o después de confirmar, al reiniciarla cada producto tiene su último "
            "precio",
            _lost_check(trials),
        ),
        (
            "Un documento por producto, con su código como _id, aunque un mensaje se escriba dos "
            "veces",
            one_document_each,
        ),
        ("El grupo confirma el topic entero (LAG 0)", whole_topic),
    ]
    return CrashCheck(
        [run_check(text, check) for text, check in checks],
        title="guardar_productos(), matada con SIGKILL y reiniciada",
        message=crashed,
        trials=trials,
        lost_label="sin su último precio",
        repeated_label="documentos de más",
    )


# --- the entry point --------------------------------------------------------------------------


def check_exercise(
    lesson: str,
    *,
    cluster: Cluster | None = None,
    function: Callable | None = None,
    mongo=None,
) -> SelfCheck:
    """The self-check of ``lesson``'s exercise ("00" to "09"), on the live cluster.

    Args:
        lesson: the lesson's number, as in its file name.
        cluster: another cluster than the notebook's current one.
        function: the exercise's function (05: ``facturar``; 09: ``guardar_productos``); by
            default the notebook's variable of that name.
        mongo: lesson 09's MongoDB; by default the notebook's variable ``mongo``.
    """
    target = cluster_of(cluster)
    if lesson == "00":
        return _hello(target)
    if lesson == "01":
        return _shifts(target)
    if lesson == "02":
        return _invoices(target)
    if lesson == "03":
        return _customer_events(target)
    if lesson == "06":
        return _transfers(target)
    if lesson == "08":
        return _temperatures(
            target, _from_notebook("lecturas", None), _from_notebook("confirmadas", None)
        )
    if lesson == "04":
        return _reports(target)
    if lesson == "07":
        return _relay(target)
    if lesson == "05":
        return _billing(target, _from_notebook("facturar", function))
    if lesson == "09":
        return _catalog(
            target, _from_notebook("guardar_productos", function), _from_notebook("mongo", mongo)
        )
    raise KafkaLabError(f"El cuaderno {lesson} no tiene una comprobación en kafkalab.")
