"""Snapshots of a live cluster and of a consumer group, drawn as static HTML and as text.

The HTML uses tables with inline styles and no JavaScript, so it survives an HTML export and
GitHub's notebook viewer; every mark is also a symbol (★, ✓, ✗), so it reads without colour.
"""

from __future__ import annotations

import contextlib
import html
from dataclasses import dataclass, field

from .kafka.base import STATE_NAMES, Broker, Cluster
from .readers import PartitionOffsets, admin_client, group_offsets

_UNKNOWN_TOPIC = 3  # Kafka's UNKNOWN_TOPIC_OR_PARTITION error code

_BOX = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px;line-height:1.45"
_TABLE = "border-collapse:collapse;margin:4px 0 10px 0"
_CELL = "border:1px solid #bbb;padding:3px 8px;text-align:center;color:#111"
_HEAD = _CELL + ";background:#eceff1;font-weight:bold"
_LEADER = _CELL + ";background:#2e7d32;color:#fff;font-weight:bold"
_IN_SYNC = _CELL + ";background:#c8e6c9"
_OUT_OF_SYNC = "border:2px dashed #e65100;padding:3px 8px;text-align:center;color:#111" + (
    ";background:#ffe0b2;font-weight:bold"
)
_EMPTY = _CELL + ";background:#fafafa"
_DOWN = _CELL + ";background:#eeeeee;color:#777"
_PROBLEM = "color:#b71c1c;font-weight:bold"

_GROUP_STATES_ES = {
    "Stable": "estable",
    "Empty": "vacío",
    "PreparingRebalance": "preparando el reparto de particiones",
    "CompletingRebalance": "completando el reparto de particiones",
    "Assigning": "asignando particiones",
    "Reconciling": "reconciliando particiones",
    "Dead": "no existe",
}


def _connect(cluster: Cluster, problems: list[str]):
    """An admin client on the running brokers, or None with the reason added to problems."""
    from kafka.errors import KafkaError

    servers = cluster.reachable_servers()
    if not servers:
        problems.append(
            "No hay ningún broker en marcha: arranca alguno con cluster.start_broker(ID)."
        )
        return None
    try:
        return admin_client(servers, client_id="kafkalab-picture")
    except (KafkaError, OSError) as error:
        problems.append(f"No se pudo conectar con el clúster: {error}")
        return None


def _e(value: object) -> str:
    return html.escape(str(value))


def _ids(values: list[int]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


# --- the cluster ------------------------------------------------------------------------


@dataclass
class BrokerView:
    node_id: int
    address: str
    state: str  # Spanish, as in repr(cluster): "en marcha", "parado", "matado"...
    running: bool
    controller: bool
    active_controller: bool = False


@dataclass
class PartitionView:
    partition: int
    leader: int | None  # None: no leader (every replica down)
    replicas: list[int]
    isr: list[int]

    @property
    def out_of_sync(self) -> list[int]:
        return [replica for replica in self.replicas if replica not in self.isr]


@dataclass
class TopicView:
    name: str
    partitions: list[PartitionView] = field(default_factory=list)

    @property
    def replication_factor(self) -> int:
        return max((len(p.replicas) for p in self.partitions), default=0)


@dataclass
class ClusterPicture:
    """What a cluster looks like right now: its brokers and its topics' partitions.

    Jupyter shows it as HTML (a table of brokers, then one grid per topic with a row per
    partition and a column per broker); ``print()`` and plain frontends show text.
    """

    version: str
    brokers: list[BrokerView]
    topics: list[TopicView]
    problems: list[str] = field(default_factory=list)

    @property
    def active_controller(self) -> int | None:
        return next((b.node_id for b in self.brokers if b.active_controller), None)

    def topic(self, name: str) -> TopicView:
        return next(t for t in self.topics if t.name == name)

    # --- text ---

    def __repr__(self) -> str:
        running = sum(b.running for b in self.brokers)
        lines = [
            f"Clúster de Kafka {self.version} (KRaft): {len(self.brokers)} brokers, "
            f"{running} en marcha"
        ]
        for broker in self.brokers:
            role = ""
            if broker.controller:
                role = "controlador KRaft" + (" (activo)" if broker.active_controller else "")
            line = f"  broker {broker.node_id}  {broker.address:<21} {broker.state:<10} {role}"
            lines.append(line.rstrip())
        for topic in self.topics:
            lines.append(
                f"Topic «{topic.name}»: {len(topic.partitions)} particiones, "
                f"factor de replicación {topic.replication_factor}"
            )
            for p in topic.partitions:
                leader = p.leader if p.leader is not None else "ninguno"
                line = (
                    f"  partición {p.partition}: líder {leader}, réplicas {_ids(p.replicas)}, "
                    f"ISR {_ids(p.isr)}"
                )
                if p.out_of_sync:
                    line += f"  <- fuera del ISR: {_ids(p.out_of_sync)}"
                lines.append(line)
        lines.extend(self.problems)
        return "\n".join(lines)

    # --- HTML ---

    def _repr_html_(self) -> str:
        parts = [f'<div style="{_BOX}">']
        running = sum(b.running for b in self.brokers)
        parts.append(
            f"<div><b>Clúster de Kafka {_e(self.version)}</b> (KRaft) · "
            f"{len(self.brokers)} brokers, {running} en marcha</div>"
        )
        parts.append(f'<table style="{_TABLE}"><tr>')
        parts.extend(
            f'<th style="{_HEAD}">{title}</th>'
            for title in ("Broker", "Dirección", "Estado", "Quórum KRaft")
        )
        parts.append("</tr>")
        for broker in self.brokers:
            style = _CELL if broker.running else _DOWN
            dot = "●" if broker.running else "○"
            role = "—"
            if broker.controller:
                role = "controlador"
                if broker.active_controller:
                    role = "<b>★ controlador activo</b>"
            parts.append(
                f'<tr><td style="{style}"><b>Broker {broker.node_id}</b></td>'
                f'<td style="{style}"><code>{_e(broker.address)}</code></td>'
                f'<td style="{style}">{dot} {_e(broker.state)}</td>'
                f'<td style="{style}">{role}</td></tr>'
            )
        parts.append("</table>")
        columns = self._grid_columns()
        for topic in self.topics:
            parts.append(
                f"<div><b>Topic <code>{_e(topic.name)}</code></b> · "
                f"{len(topic.partitions)} particiones · factor de replicación "
                f"{topic.replication_factor}</div>"
            )
            parts.append(f'<table style="{_TABLE}"><tr><th style="{_HEAD}">Partición</th>')
            for node_id, running, state in columns:
                label = f"Broker {node_id}" + ("" if running else f" ({state})")
                parts.append(f'<th style="{_HEAD if running else _DOWN}">{_e(label)}</th>')
            parts.extend(
                f'<th style="{_HEAD}">{title}</th>' for title in ("Líder", "Réplicas", "ISR")
            )
            parts.append("</tr>")
            for p in topic.partitions:
                parts.append(f'<tr><td style="{_HEAD}">{p.partition}</td>')
                for node_id, _running, _state in columns:
                    if node_id not in p.replicas:
                        parts.append(f'<td style="{_EMPTY}"></td>')
                    elif node_id == p.leader:
                        parts.append(f'<td style="{_LEADER}">★ líder</td>')
                    elif node_id in p.isr:
                        parts.append(f'<td style="{_IN_SYNC}">✓ réplica</td>')
                    else:
                        parts.append(f'<td style="{_OUT_OF_SYNC}">✗ fuera del ISR</td>')
                leader = (
                    str(p.leader)
                    if p.leader is not None
                    else f'<span style="{_PROBLEM}">sin líder</span>'
                )
                parts.append(
                    f'<td style="{_CELL}">{leader}</td>'
                    f'<td style="{_CELL}">{_e(_ids(p.replicas))}</td>'
                    f'<td style="{_CELL}">{_e(_ids(p.isr))}</td></tr>'
                )
            parts.append("</table>")
        if self.topics:
            parts.append(
                '<div style="color:#555">★ líder: recibe las escrituras y lecturas · '
                "✓ réplica sincronizada (en el ISR) · ✗ réplica que se ha quedado atrás "
                "(fuera del ISR)</div>"
            )
        parts.extend(f'<div style="{_PROBLEM}">{_e(problem)}</div>' for problem in self.problems)
        parts.append("</div>")
        return "".join(parts)

    def _grid_columns(self) -> list[tuple[int, bool, str]]:
        """(node id, running, state) of every broker that is in the cluster or holds a replica."""
        known = {b.node_id: (b.running, b.state) for b in self.brokers}
        for topic in self.topics:
            for p in topic.partitions:
                for replica in p.replicas:
                    known.setdefault(replica, (False, "desconocido"))
        return [(node_id, *known[node_id]) for node_id in sorted(known)]


def picture_cluster(cluster: Cluster, topic: str | None = None) -> ClusterPicture:
    """Ask the live cluster for its brokers, controllers and partitions."""
    from kafka.errors import KafkaError

    brokers = {
        b.node_id: BrokerView(b.node_id, b.address, _broker_state(b), b.alive, b.controller)
        for b in cluster.brokers
    }
    picture = ClusterPicture(cluster.kafka_version, list(brokers.values()), [])
    admin = _connect(cluster, picture.problems)
    if admin is None:
        return picture
    try:
        # What the cluster itself says now: brokers it has that we did not start (an
        # external cluster's), and fenced ones.
        with contextlib.suppress(KafkaError, OSError):
            described = {b["broker_id"]: b for b in admin.describe_cluster()["brokers"]}
            for node_id, b in described.items():
                address = f"{b['host']}:{b['port']}"
                view = brokers.setdefault(
                    node_id, BrokerView(node_id, address, "en marcha", True, False)
                )
                if b.get("is_fenced") and view.running:
                    view.state, view.running = "aislado (fenced)", False
            for node_id, view in brokers.items():
                if view.running and node_id not in described:
                    view.state, view.running = "sin registrar", False
            picture.brokers = [brokers[node_id] for node_id in sorted(brokers)]
        with contextlib.suppress(KafkaError, OSError, KeyError, IndexError):
            quorum = admin.describe_metadata_quorum()["topics"][0]["partitions"][0]
            voters = {voter["replica_id"] for voter in quorum["current_voters"]}
            for broker in picture.brokers:
                broker.controller = broker.controller or broker.node_id in voters
                broker.active_controller = broker.node_id == quorum["leader_id"]
        try:
            described_topics = admin.describe_topics([topic] if topic else None)
        except (KafkaError, OSError) as error:
            picture.problems.append(f"No se pudieron leer los topics: {error}")
            described_topics = []
        for entry in sorted(described_topics, key=lambda t: t["name"] or ""):
            if entry.get("error_code") == _UNKNOWN_TOPIC:
                picture.problems.append(
                    f"El topic «{entry['name']}» no existe. Compruébalo con kafka-topics.sh --list."
                )
                continue
            if entry.get("error_code"):
                picture.problems.append(
                    f"Kafka no pudo describir el topic «{entry['name']}» "
                    f"(código de error {entry['error_code']})."
                )
                continue
            if entry.get("is_internal") and not topic:
                continue
            view = TopicView(entry["name"])
            for p in sorted(entry["partitions"], key=lambda p: p["partition_index"]):
                leader = p["leader_id"]
                if leader is not None and leader < 0:
                    leader = None
                view.partitions.append(
                    PartitionView(
                        partition=p["partition_index"],
                        leader=leader,
                        replicas=list(p["replica_nodes"]),
                        isr=sorted(p["isr_nodes"]),
                    )
                )
            picture.topics.append(view)
    finally:
        admin.close()
    return picture


def _broker_state(broker: Broker) -> str:
    if broker.state in ("running", "starting"):
        code = broker.exit_code()
        if code is not None:
            return f"caído (código {code})"
    return STATE_NAMES.get(broker.state, broker.state)


# --- a consumer group --------------------------------------------------------------------


@dataclass
class MemberView:
    client_id: str
    host: str
    member_id: str
    partitions: list[tuple[str, int]]


@dataclass(frozen=True)
class GroupRow(PartitionOffsets):
    """A row of ``kafka-consumer-groups.sh --describe``: CURRENT-OFFSET (``committed``),
    LOG-END-OFFSET (``end``), LAG, and who has the partition now."""

    owner: str | None = None  # client id of the member that has the partition now


@dataclass
class GroupPicture:
    """A consumer group right now: state, members and, per partition, offsets and lag.

    The columns are those of ``kafka-consumer-groups.sh --describe``: CURRENT-OFFSET (what
    the group committed), LOG-END-OFFSET (where the partition ends) and LAG (the difference:
    messages the group has not processed yet).
    """

    group: str
    state: str  # as Kafka names it: Stable, Empty, PreparingRebalance...; "" if unknown
    members: list[MemberView]
    rows: list[GroupRow]
    problems: list[str] = field(default_factory=list)
    members_known: bool = True  # False for KIP-848 groups, which kafka-python cannot describe

    @property
    def exists(self) -> bool:
        return self.state != "Dead" and (self.state != "" or not self.members_known)

    @property
    def total_lag(self) -> int:
        return sum(row.lag or 0 for row in self.rows)

    def lag(self, topic: str, partition: int) -> int | None:
        return next(r.lag for r in self.rows if (r.topic, r.partition) == (topic, partition))

    def _state_text(self) -> str:
        if not self.members_known:
            return "protocolo consumer (KIP-848)"
        if not self.state:
            return "desconocido"
        spanish = _GROUP_STATES_ES.get(self.state)
        return f"{self.state} ({spanish})" if spanish else self.state

    def _members_text(self) -> str:
        if not self.members_known:
            return "miembros no disponibles"
        if not self.members:
            return "sin miembros activos"
        return f"{len(self.members)} miembro" + ("s" if len(self.members) != 1 else "")

    @staticmethod
    def _offset(value: int | None) -> str:
        return "-" if value is None else str(value)

    def __repr__(self) -> str:
        if not self.exists:
            return "\n".join([self._missing_text(), *self.problems])
        lines = [f"Grupo «{self.group}»: {self._state_text()}, {self._members_text()}"]
        for member in self.members:
            owned = ", ".join(f"{t}-{p}" for t, p in member.partitions) or "ninguna partición"
            lines.append(f"  {member.client_id} ({member.host}): {owned}")
        if self.rows:
            header = ("TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMIDOR")
            table = [header] + [
                (
                    r.topic,
                    str(r.partition),
                    self._offset(r.committed),
                    self._offset(r.end),
                    self._offset(r.lag),
                    r.owner or "-",
                )
                for r in self.rows
            ]
            widths = [max(len(row[i]) for row in table) for i in range(len(header))]
            for row in table:
                cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                lines.append(("  " + "  ".join(cells)).rstrip())
            lines.append(f"  LAG total: {self.total_lag}")
        else:
            lines.append("  (el grupo no ha confirmado offsets todavía)")
        lines.extend(self.problems)
        return "\n".join(lines)

    def _missing_text(self) -> str:
        return (
            f"El grupo «{self.group}» no existe todavía: aparece cuando un consumidor con "
            f"group.id={self.group} se une o confirma offsets."
        )

    def _repr_html_(self) -> str:
        parts = [f'<div style="{_BOX}">']
        if not self.exists:
            parts.append(f"<div>{_e(self._missing_text())}</div>")
        else:
            members = _e(self._members_text())
            if not self.members:
                members = f'<span style="color:#b26a00;font-weight:bold">{members}</span>'
            parts.append(
                f"<div><b>Grupo <code>{_e(self.group)}</code></b> · estado "
                f"<b>{_e(self._state_text())}</b> · {members}</div>"
            )
            if self.members:
                parts.append(f'<table style="{_TABLE}"><tr>')
                parts.extend(
                    f'<th style="{_HEAD}">{title}</th>'
                    for title in ("Consumidor (client.id)", "Host", "Particiones asignadas")
                )
                parts.append("</tr>")
                for member in self.members:
                    owned = ", ".join(f"{t}-{p}" for t, p in member.partitions) or "ninguna"
                    parts.append(
                        f'<tr><td style="{_CELL}"><b>{_e(member.client_id)}</b></td>'
                        f'<td style="{_CELL}">{_e(member.host)}</td>'
                        f'<td style="{_CELL}">{_e(owned)}</td></tr>'
                    )
                parts.append("</table>")
            if self.rows:
                parts.append(f'<table style="{_TABLE}"><tr>')
                parts.extend(
                    f'<th style="{_HEAD}">{title}</th>'
                    for title in (
                        "Topic",
                        "Partición",
                        "CURRENT-OFFSET<br><small>confirmado</small>",
                        "LOG-END-OFFSET<br><small>final del log</small>",
                        "LAG<br><small>pendientes</small>",
                        "Consumidor",
                    )
                )
                parts.append("</tr>")
                for r in self.rows:
                    lag_style = _IN_SYNC if r.lag == 0 else _OUT_OF_SYNC if r.lag else _CELL
                    parts.append(
                        f'<tr><td style="{_CELL}"><code>{_e(r.topic)}</code></td>'
                        f'<td style="{_CELL}">{r.partition}</td>'
                        f'<td style="{_CELL}">{self._offset(r.committed)}</td>'
                        f'<td style="{_CELL}">{self._offset(r.end)}</td>'
                        f'<td style="{lag_style}">{self._offset(r.lag)}</td>'
                        f'<td style="{_CELL}">{_e(r.owner or "-")}</td></tr>'
                    )
                parts.append(
                    f'<tr><td colspan="4" style="{_HEAD};text-align:right">LAG total</td>'
                    f'<td style="{_HEAD}">{self.total_lag}</td><td style="{_HEAD}"></td></tr>'
                )
                parts.append("</table>")
            else:
                parts.append("<div>El grupo no ha confirmado offsets todavía.</div>")
        parts.extend(f'<div style="{_PROBLEM}">{_e(problem)}</div>' for problem in self.problems)
        parts.append("</div>")
        return "".join(parts)


def picture_group(cluster: Cluster, group: str, topic: str | None = None) -> GroupPicture:
    """Ask the live cluster for a consumer group's members, committed offsets and lag."""
    from kafka.errors import KafkaError

    picture = GroupPicture(group, "", [], [])
    admin = _connect(cluster, picture.problems)
    if admin is None:
        return picture
    try:
        try:
            described = admin.describe_groups([group])[group]
        except (KafkaError, OSError) as error:
            picture.problems.append(f"No se pudo leer el grupo «{group}»: {error}")
            return picture
        picture.state = described.get("group_state") or ""
        if "not a classic group" in (described.get("error") or ""):
            # DescribeGroups only knows classic groups; kafka-python has no
            # ConsumerGroupDescribe. Offsets and lag still come from OffsetFetch.
            picture.state = ""
            picture.members_known = False
            picture.problems.append(
                f"El grupo «{group}» usa el protocolo nuevo de grupos (KIP-848) y kafka-python "
                f"no puede ver sus miembros. Míralos con: %kafka kafka-consumer-groups.sh "
                f"--describe --group {group} --members"
            )
        owners: dict[tuple[str, int], str] = {}
        for member in described.get("members", []):
            assignment = member.get("member_assignment")
            owned = []
            if isinstance(assignment, dict):
                for entry in assignment.get("assigned_partitions") or []:
                    owned.extend((entry["topic"], p) for p in sorted(entry["partitions"]))
            if topic:
                owned = [tp for tp in owned if tp[0] == topic]
            client_id = member.get("client_id") or member.get("member_id", "?")
            for tp in owned:
                owners[tp] = client_id
            picture.members.append(
                MemberView(
                    client_id=client_id,
                    host=(member.get("client_host") or "").lstrip("/"),
                    member_id=member.get("member_id", ""),
                    partitions=sorted(owned),
                )
            )
        picture.members.sort(key=lambda m: (m.client_id, m.member_id))
        try:
            if topic:
                rows = group_offsets(admin, group, [topic]) if picture.exists else []
            else:
                rows = group_offsets(admin, group)  # the topics it committed on
                # and the ones its members own but have not committed on yet
                missing = sorted({t for t, _ in owners} - {r.topic for r in rows})
                if missing:
                    rows += group_offsets(admin, group, missing)
        except (KafkaError, OSError) as error:
            picture.problems.append(f"No se pudieron leer los offsets del grupo: {error}")
            rows = []
        picture.rows = [
            GroupRow(r.topic, r.partition, r.committed, r.end, owners.get((r.topic, r.partition)))
            for r in sorted(rows, key=lambda r: (r.topic, r.partition))
        ]
    finally:
        admin.close()
    return picture
