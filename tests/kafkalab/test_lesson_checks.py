"""The lessons' harness-based self-checks (kafkalab.check_exercise), on a real cluster and a
real mongod: they pass with the lesson's solution and fail for the consumers a student could
write instead (at most once, committing late, one document per message), and lesson 03's
fails for a producer whose settings switch idempotence off."""

from __future__ import annotations

import ast
import re
import time

import pytest
from kafka import KafkaProducer
from kafka.serializer import DefaultSerializer, JsonSerializer

from kafkalab import Mongo, check_exercise
from kafkalab.crashes import AFTER_COMMIT, BEFORE_COMMIT
from kafkalab.exercises import PASSED
from tests.support.paths import COURSE

PAYMENTS = [f"pago-{n:02}" for n in range(20)]


def billing(servers: str, *, commit: str = "after", subscribe: bool = False):
    """A ``facturar(grupo, fichero)`` of lesson 05. ``commit``: "after" each payment (the
    solution), "before" it (at most once) or "end" (once, after all twelve)."""

    def facturar(grupo, fichero):
        from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition

        particion = TopicPartition("pagos", 0)
        options = dict(
            bootstrap_servers=servers,
            group_id=grupo,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        if subscribe:
            consumer = KafkaConsumer("pagos", **options)
        else:
            consumer = KafkaConsumer(**options)
            consumer.assign([particion])
        deadline = time.monotonic() + 30
        with open(fichero, "a") as out:
            while time.monotonic() < deadline:
                if consumer.assignment() and consumer.position(particion) >= 12:
                    break
                for message in consumer.poll(timeout_ms=500, max_records=1).get(particion, []):
                    if message.offset >= 12:
                        break
                    if commit == "before":
                        consumer.commit({particion: OffsetAndMetadata(message.offset + 1)})
                    out.write(message.value.decode() + "\n")
                    out.flush()
                    if commit == "after":
                        consumer.commit({particion: OffsetAndMetadata(message.offset + 1)})
        if commit == "end":
            consumer.commit({particion: OffsetAndMetadata(12)})
        consumer.close()

    return facturar


@pytest.fixture(scope="module")
def payments(cluster3):
    cluster3.run("kafka-topics.sh --create --topic pagos --partitions 1")
    producer = KafkaProducer(bootstrap_servers=cluster3.bootstrap_servers)
    for payment in PAYMENTS:
        producer.send("pagos", payment.encode())
    producer.flush()
    producer.close()
    return cluster3


def trial(check, moment):
    (found,) = [t for t in check.trials if t.moment == moment]
    return found


def test_billing_passes_at_least_once_and_repeats_only_the_payment_in_flight(payments):
    check = check_exercise("05", cluster=payments, function=billing(payments.bootstrap_servers))
    assert check.passed, repr(check)
    assert all(t.killed_run.killed and t.restart.finished for t in check.trials)
    assert trial(check, BEFORE_COMMIT).repeated == ["pago-05"]
    assert trial(check, AFTER_COMMIT).repeated == []
    assert all(t.lost == [] and t.committed_to_end for t in check.trials)
    assert PASSED in repr(check) and "pago-05" in check._repr_html_()


def test_billing_fails_at_most_once_and_shows_the_lost_payment(payments):
    function = billing(payments.bootstrap_servers, commit="before")
    check = check_exercise("05", cluster=payments, function=function)
    assert not check.passed
    assert trial(check, AFTER_COMMIT).lost == ["pago-05"]
    assert trial(check, BEFORE_COMMIT).lost == []
    assert "se perdió pago-05" in repr(check)


def test_billing_fails_a_consumer_that_commits_late_and_repeats_everything(payments):
    function = billing(payments.bootstrap_servers, commit="end")
    check = check_exercise("05", cluster=payments, function=function)
    assert not check.passed
    assert trial(check, BEFORE_COMMIT).repeated == PAYMENTS[:12]
    assert "se repitió" in repr(check)


def test_billing_passes_a_subscribed_consumer_after_its_dead_member_leaves(payments):
    function = billing(payments.bootstrap_servers, subscribe=True)
    check = check_exercise("05", cluster=payments, function=function)
    assert check.passed, repr(check)


def test_billing_says_what_is_missing_without_a_function(payments):
    check = check_exercise("05", cluster=payments)
    assert not check.passed and "facturar" in repr(check)


def test_billing_reports_a_function_that_raises_or_never_ends(payments):
    def broken(grupo, fichero):
        raise ValueError("sin hacer")

    check = check_exercise("05", cluster=payments, function=broken)
    assert not check.passed
    assert "lanzó ValueError: sin hacer" in repr(check)


def catalog_saver(servers: str, *, commit: str = "after", write: str = "replace"):
    """A ``guardar_productos(grupo, coleccion)`` of lesson 09: ``commit`` "after" each write
    (the solution) or "before" it (at most once); ``write`` "replace" (upsert by code, the
    solution) or "insert" (one document per message)."""

    def guardar_productos(grupo, coleccion):
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            "productos",
            bootstrap_servers=servers,
            group_id=grupo,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            key_deserializer=DefaultSerializer(),
            value_deserializer=JsonSerializer(),
            consumer_timeout_ms=1500,
        )
        for message in consumer:
            if commit == "before":
                consumer.commit()
            if write == "replace":
                coleccion.replace_one({"_id": message.key}, message.value, upsert=True)
            else:
                coleccion.insert_one(dict(message.value))
            if commit == "after":
                consumer.commit()
        consumer.close()

    return guardar_productos


@pytest.fixture(scope="module")
def catalog(cluster3):
    cluster3.run("kafka-topics.sh --create --topic productos --partitions 3")
    producer = KafkaProducer(
        bootstrap_servers=cluster3.bootstrap_servers,
        key_serializer=DefaultSerializer(),
        value_serializer=JsonSerializer(),
    )
    changes = [("P003", 9.99), ("P007", 15.5), ("P012", 19.9), ("P007", 14.95)]
    for code, price in [(f"P{n:03}", 10.0 + n) for n in range(1, 21)] + changes:
        producer.send("productos", key=code, value={"codigo": code, "precio": price})
    producer.flush()
    producer.close()
    with Mongo.start(backend="local", progress=False) as mongo:
        yield cluster3, mongo


def test_catalog_passes_an_idempotent_at_least_once_consumer(catalog):
    cluster, mongo = catalog
    saver = catalog_saver(cluster.bootstrap_servers)
    check = check_exercise("09", cluster=cluster, function=saver, mongo=mongo)
    assert check.passed, repr(check)
    assert all(t.killed_run.killed and t.lost == [] for t in check.trials)
    assert "P007" in check._repr_html_()
    # The trials' collections are gone: the student's database holds only their own.
    assert not [n for n in mongo.client()["curso"].list_collection_names() if "prueba" in n]


def test_catalog_fails_at_most_once_with_the_old_price_of_the_product_killed(catalog):
    cluster, mongo = catalog
    saver = catalog_saver(cluster.bootstrap_servers, commit="before")
    check = check_exercise("09", cluster=cluster, function=saver, mongo=mongo)
    assert not check.passed
    assert trial(check, AFTER_COMMIT).lost == ["P007"]


def test_catalog_fails_a_consumer_that_writes_a_document_per_message(catalog):
    cluster, mongo = catalog
    saver = catalog_saver(cluster.bootstrap_servers, write="insert")
    check = check_exercise("09", cluster=cluster, function=saver, mongo=mongo)
    assert not check.passed
    assert "usa el código como _id" in repr(check)


def producer_events(cluster, **settings) -> None:
    cluster.run(
        "kafka-topics.sh --create --if-not-exists --topic eventos-clientes --partitions 4 "
        "--replication-factor 3"
    )
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, **settings)
    for customer in ["ana", "luis", "marta", "pedro"]:
        for event in ["alta", "compra", "pago", "envío"]:
            producer.send("eventos-clientes", key=customer.encode(), value=event.encode())
    producer.flush()
    producer.close()


def shop_settings() -> dict:
    """``AJUSTES_TIENDA``, the settings lesson 03's exercise gives the student to fix."""
    text = (COURSE / "03-productores.md").read_text()
    (literal,) = re.findall(r"^AJUSTES_TIENDA = (\{.*?^\})", text, flags=re.S | re.M)
    return ast.literal_eval(literal)


def test_customer_events_fail_with_the_shops_settings_and_pass_once_fixed(cluster3):
    # The settings lesson 03's exercise gives, used as they are, switch kafka-python's default
    # idempotence off (silently): a student who does everything else fails that check only.
    settings = shop_settings()
    assert settings["acks"] != "all"
    producer_events(cluster3, **settings)
    check = check_exercise("03", cluster=cluster3)
    assert [r.passed for r in check.results] == [True, True, True, False], repr(check)
    assert "desactivó" in repr(check)
    cluster3.run("kafka-topics.sh --delete --topic eventos-clientes")
    producer_events(
        cluster3, **{**settings, "acks": "all", "max_in_flight_requests_per_connection": 5}
    )
    check = check_exercise("03", cluster=cluster3)
    assert check.passed, repr(check)


def test_billing_reports_a_function_whose_process_dies_by_a_signal(payments):
    def segfaults(grupo, fichero):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGSEGV)

    check = check_exercise("05", cluster=payments, function=segfaults)
    assert not check.passed
    assert "tu función murió por la señal SIGSEGV" in repr(check)
    # Python's crash dump is part of the run's output, not the test's (or a kernel's) stderr.
    assert "Fatal Python error: Segmentation fault" in check.trials[0].killed_run.output
