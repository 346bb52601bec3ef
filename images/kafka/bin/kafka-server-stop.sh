#!/bin/sh
# Stand-in for Apache Kafka's bin/kafka-server-stop.sh: a clean stop (SIGTERM) of the broker.
for pid in /proc/[0-9]*; do
  if tr '\0' ' ' < "$pid/cmdline" 2>/dev/null | grep -q ' kafka\.Kafka '; then
    kill -TERM "${pid#/proc/}"
    exit 0
  fi
done
echo "No kafka server to stop" >&2
exit 1
