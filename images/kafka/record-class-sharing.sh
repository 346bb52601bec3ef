#!/bin/bash
# Run at image build time: record the classes a broker and the common tools load, and dump
# them into a class data sharing archive, /opt/kafka/kafka.jsa (the official image also ships
# an archive there, of its broker). Later JVMs map these classes instead of loading them
# from the jars: brokers and tools start in about half the time.
set -euo pipefail
work=$(mktemp -d)
cat >"$work/server.properties" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093
controller.listener.names=CONTROLLER
log.dirs=$work/data
offsets.topic.replication.factor=1
offsets.topic.num.partitions=2
PROPERTIES
export KAFKA_HEAP_OPTS=-Xmx256m LOG_DIR="$work/logs"
export KAFKA_JVM_PERFORMANCE_OPTS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:off"
bin=/opt/kafka/bin
server=(--bootstrap-server 127.0.0.1:9092)
record() {
  local name=$1
  shift
  KAFKA_OPTS="-XX:DumpLoadedClassList=$work/$name.classlist" "$@"
}

record format "$bin/kafka-storage.sh" format --cluster-id AAAAAAAAAAAAAAAAAAAAAA \
  --config "$work/server.properties" >/dev/null
record broker "$bin/kafka-server-start.sh" "$work/server.properties" >"$work/broker.out" 2>&1 &
broker=$!
for _ in $(seq 240); do
  grep -q "Kafka Server started" "$work/broker.out" && break
  kill -0 "$broker" || { cat "$work/broker.out"; exit 1; }
  sleep 0.25
done
record create "$bin/kafka-topics.sh" "${server[@]}" --create --topic training --partitions 2
record describe "$bin/kafka-topics.sh" "${server[@]}" --describe --topic training
printf 'a:uno\nb:dos\n' | record produce "$bin/kafka-console-producer.sh" "${server[@]}" \
  --topic training --reader-property parse.key=true --reader-property key.separator=:
record consume "$bin/kafka-console-consumer.sh" "${server[@]}" --topic training \
  --from-beginning --max-messages 2 --group training --formatter-property print.key=true
record groups "$bin/kafka-consumer-groups.sh" "${server[@]}" --describe --group training
record quorum "$bin/kafka-metadata-quorum.sh" "${server[@]}" describe --status
kill -TERM "$broker"
wait "$broker" || true

# One list: each class once, without the numeric ids (they clash between lists) and without
# classes of other class loaders (a list cannot archive them).
awk '!/^#/ && !/ source: / && NF { sub(/ id:.*/, ""); if (!seen[$0]++) print }' \
  "$work"/*.classlist >"$work/merged.classlist"
java -Xshare:dump -XX:SharedClassListFile="$work/merged.classlist" \
  -XX:SharedArchiveFile=/opt/kafka/kafka.jsa -cp "/opt/kafka/libs/*" -Xlog:cds=off \
  -Xlog:cds+dynamic=off >/dev/null
rm -rf "$work"
ls -l /opt/kafka/kafka.jsa
