"""Drawings of a partition's contents for the lessons, read from the live cluster.

    kafkalab.show_partitions("lecturas")  # lesson 01: a row per partition, a box per message
    kafkalab.show_offsets("contabilidad")  # lesson 05: committed, delivered and pending offsets
    kafkalab.show_transactions("movimientos")  # lesson 06: committed, aborted and markers

Each returns an ``IPython.display.HTML`` (plain HTML, so it survives a static export); the
lessons' tests read their ``data-*`` and ``title`` attributes.
"""

from __future__ import annotations

from html import escape

from .exercises import cluster_of, read_topic, topic_info
from .kafka.base import Cluster
from .readers import admin_client

__all__ = ["show_offsets", "show_partitions", "show_transactions"]

_BOX = "border:1px solid #7a8ca8;border-radius:4px;padding:4px 10px;text-align:center"
_OFFSET_COLOURS = {"confirmado": "#a5d6a7", "entregado": "#ffcc80", "pendiente": "#e0e0e0"}
_TRANSACTION_STYLES = {
    "confirmado": ("#a5d6a7", "confirmado"),
    "abortado": ("#ef9a9a", "abortado"),
    "COMMIT": ("#cfd8dc", "marcador COMMIT"),
    "ABORT": ("#cfd8dc", "marcador ABORT"),
}


def _html(text: str):
    from IPython.display import HTML

    return HTML(text)


def show_partitions(topic: str, *, cluster: Cluster | None = None):
    """A row per partition of ``topic`` and a box per message with its offset and value; the
    offsets a partition no longer holds (deleted or expired) as dashed boxes."""
    cluster = cluster_of(cluster)
    partitions = {p: [] for p in range(topic_info(topic, cluster=cluster).partitions)}
    for message in read_topic(topic, cluster=cluster):
        partitions[message.partition].append(message)
    rows = []
    for partition, messages in partitions.items():
        first = messages[0].offset if messages else 0
        boxes = [
            f'<div style="{_BOX};border-style:dashed;color:#777">offset {offset}<br>borrado</div>'
            for offset in range(first)
        ] + [
            f'<div data-offset="{m.offset}" style="{_BOX};background:#eef3fb">'
            f'<span style="color:#555">offset {m.offset}</span><br>'
            f"<b>{escape(m.value.decode(errors='replace'))}</b></div>"
            for m in messages
        ]
        rows.append(
            f'<div data-particion="{partition}" style="display:flex;gap:4px;margin:4px 0">'
            f'<b style="width:100px;align-self:center">Partición {partition}</b>'
            f"{''.join(boxes)}</div>"
        )
    return _html(
        '<div style="font-family:system-ui,sans-serif;font-size:14px;color:#1a1a1a;'
        f'background:#fff;padding:6px"><b>Topic «{escape(topic)}»</b>{"".join(rows)}</div>'
    )


def show_offsets(
    group: str,
    position: int | None = None,
    topic: str = "pagos",
    *,
    cluster: Cluster | None = None,
):
    """Partition 0 of ``topic`` offset by offset for ``group``: committed, delivered by
    ``poll()`` up to a consumer's ``position`` (which only that consumer knows), pending."""
    from .pictures import picture_group

    row = picture_group(cluster_of(cluster), group, topic).rows[0]
    committed = row.committed or 0  # None: the group committed nothing
    position = committed if position is None else position
    columns = []
    for offset in range(row.end + 1):
        if offset == row.end:
            box = '<div style="border:1px dashed #757575;height:26px;line-height:26px">fin</div>'
        else:
            state = (
                "confirmado"
                if offset < committed
                else "entregado"
                if offset < position
                else "pendiente"
            )
            box = (
                f'<div title="{state}" style="background:{_OFFSET_COLOURS[state]};height:26px;'
                f'line-height:26px;border:1px solid #fff">{offset}</div>'
            )
        marks = []
        if offset == committed:
            marks.append("▲ confirmado")
        if offset == position != committed:
            marks.append("▲ posición")
        columns.append(
            f'<td style="padding:0;vertical-align:top;width:34px">{box}'
            '<div style="font-size:13px;white-space:nowrap;text-align:left">'
            f"{'<br>'.join(marks)}</div></td>"
        )
    legend = " ".join(
        f'<span style="background:{colour};padding:1px 6px;margin-right:6px">{escape(text)}</span>'
        for text, colour in [
            ("confirmado por el grupo", _OFFSET_COLOURS["confirmado"]),
            ("devuelto por poll(), sin confirmar", _OFFSET_COLOURS["entregado"]),
            ("pendiente (LAG)", _OFFSET_COLOURS["pendiente"]),
        ]
    )
    return _html(
        '<div style="font-family:system-ui,sans-serif;font-size:14px">'
        f"<b>Grupo «{escape(group)}», partición {escape(topic)}-0</b>: "
        f"offset confirmado {committed}, posición {position}, fin {row.end}, "
        f"LAG {row.end - committed}"
        '<table style="border-collapse:collapse;table-layout:fixed;text-align:center;'
        f'width:{34 * (row.end + 1)}px;margin:6px 0 22px">'
        f"<tr>{''.join(columns)}</tr></table>{legend}</div>"
    )


def show_transactions(topic: str, *, cluster: Cluster | None = None):
    """Partition 0 of ``topic`` offset by offset: messages of committed transactions, of
    aborted ones (seen only with read_uncommitted) and the markers no consumer sees."""
    from kafka.admin import OffsetSpec
    from kafka.structs import TopicPartition

    cluster = cluster_of(cluster)
    everything = {
        m.offset: m for m in read_topic(topic, cluster=cluster, isolation_level="read_uncommitted")
    }
    visible = {
        m.offset for m in read_topic(topic, cluster=cluster, isolation_level="read_committed")
    }
    partition = TopicPartition(topic, 0)
    with admin_client(cluster.reachable_servers(), client_id="kafkalab-dibujo") as admin:
        end = admin.list_partition_offsets({partition: OffsetSpec.LATEST})[partition].offset
    columns, previous = [], None
    for offset in range(end):
        if offset in visible:
            state = "confirmado"
        elif offset in everything:
            state = "abortado"
        else:
            state = "ABORT" if previous == "abortado" else "COMMIT"
        colour, name = _TRANSACTION_STYLES[state]
        text = (
            escape(everything[offset].value.decode(errors="replace"))
            if offset in everything
            else name
        )
        columns.append(
            f'<td title="{state}" style="background:{colour};border:2px solid #fff;'
            f'padding:6px;min-width:80px">offset {offset}<br><b>{text}</b></td>'
        )
        previous = state
    return _html(
        '<div style="font-family:system-ui,sans-serif;font-size:14px">'
        f"<b>{escape(topic)}-0</b>: {len(everything)} mensajes, {len(visible)} visibles con "
        f"read_committed, {end - len(everything)} marcadores; la partición termina en el offset "
        f"{end}"
        '<table style="border-collapse:collapse;text-align:center;margin-top:6px">'
        f"<tr>{''.join(columns)}</tr></table>"
        '<span style="background:#a5d6a7;padding:1px 6px">lo ven todos</span> '
        '<span style="background:#ef9a9a;padding:1px 6px">abortado: solo read_uncommitted</span> '
        '<span style="background:#cfd8dc;padding:1px 6px">marcador: no lo ve nadie</span></div>'
    )
