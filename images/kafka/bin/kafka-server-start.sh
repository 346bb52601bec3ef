#!/bin/sh
# Stand-in for Apache Kafka's bin/kafka-server-start.sh (same defaults: 1 GB heap, logs via
# config/log4j2.yaml to the console and $LOG_DIR/server.log).
if [ $# -lt 1 ]; then
  echo "USAGE: $0 server.properties [--override property=value]*" >&2
  exit 1
fi
base_dir=$(dirname "$0")
export KAFKA_LOG4J_OPTS=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$base_dir/../config/log4j2.yaml}
export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}
exec "$base_dir/kafka-run-class.sh" -name kafkaServer kafka.Kafka "$@"
