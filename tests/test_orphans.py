"""No broker outlives its owner: a Jupyter kernel killed with SIGKILL leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from kafkalab import Cluster

from .conftest import java_processes_mentioning

pytestmark = pytest.mark.slow


def run_in_kernel(client, code: str) -> str:
    """Execute code in the kernel and return what it printed."""
    printed = []
    message_id = client.execute(code)
    while True:
        message = client.get_iopub_msg(timeout=120)
        if message["parent_header"].get("msg_id") != message_id:
            continue
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            raise AssertionError("\n".join(message["content"]["traceback"]))
        elif message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            return "".join(printed)


def test_sigkill_of_the_kernel_leaves_no_broker_and_no_data():
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        printed = run_in_kernel(
            client,
            "import json, os\n"
            "from kafkalab import Cluster\n"
            "cluster = Cluster.start(brokers=3, progress=False)\n"
            "print(json.dumps({'pid': os.getpid(), 'root': str(cluster._root)}))\n",
        )
        started = json.loads(printed.strip().splitlines()[-1])
        root = Path(started["root"])
        assert len(java_processes_mentioning(str(root))) == 3

        os.kill(started["pid"], signal.SIGKILL)
        killed_at = time.monotonic()
        while time.monotonic() - killed_at < 10:
            if not java_processes_mentioning(str(root)) and not root.exists():
                break
            time.sleep(0.2)
        assert java_processes_mentioning(str(root)) == [], "brokers outlived the kernel"
        assert not root.exists(), "data outlived the kernel"
    finally:
        client.stop_channels()
        manager.cleanup_resources()


def test_kill_broker_really_kills_the_jvm():
    with Cluster.start(brokers=1, progress=False) as cluster:
        pid = cluster.brokers[0].java_pid
        assert pid
        cluster.kill_broker(1)
        assert cluster.broker(1).state == "killed"
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
        with pytest.raises(Exception, match="no está en marcha"):
            cluster.stop_broker(1)
        cluster.start_broker(1)
        assert cluster.broker(1).state == "running"
        assert "Created topic" in cluster.run("kafka-topics.sh --create --topic vuelve").stdout
