#!/bin/sh
# Stand-in for Apache Kafka's bin/kafka-run-class.sh: runs a Kafka main class with the jars in
# ../libs and honours the same variables (KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS,
# KAFKA_OPTS, KAFKA_LOG4J_OPTS, KAFKA_GC_LOG_OPTS, KAFKA_JMX_OPTS, LOG_DIR, JAVA_HOME) and
# defaults. Not supported: -daemon and JMX_PORT.
if [ $# -lt 1 ]; then
  echo "USAGE: $0 [-name servicename] [-loggc] classname [opts]" >&2
  exit 1
fi
base_dir=$(cd "$(dirname "$0")/.." && pwd)
while [ $# -gt 0 ]; do
  case "$1" in
    -name) shift 2 ;;
    -loggc | -daemon) shift ;;
    *) break ;;
  esac
done
LOG_DIR=${LOG_DIR:-$base_dir/logs}
mkdir -p "$LOG_DIR" 2>/dev/null
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx256M}
KAFKA_JVM_PERFORMANCE_OPTS=${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true}
KAFKA_LOG4J_OPTS=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$base_dir/config/tools-log4j2.yaml}
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
# Word splitting of the option variables is wanted, as in the original script.
# shellcheck disable=SC2086
exec "$JAVA" $KAFKA_HEAP_OPTS $KAFKA_JVM_PERFORMANCE_OPTS $KAFKA_GC_LOG_OPTS $KAFKA_JMX_OPTS \
  "-Dkafka.logs.dir=$LOG_DIR" $KAFKA_LOG4J_OPTS -cp "$base_dir/libs/*" $KAFKA_OPTS "$@"
