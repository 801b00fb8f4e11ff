#!/bin/bash
# broker: writes server.properties from the KAFKA_* environment (KAFKA_FOO_BAR -> foo.bar), formats the
# storage once (CLUSTER_ID), runs kafka.Kafka in the foreground.
# topics NAME:PARTITIONS... --bootstrap-server H:P: creates topics (replication factor 1) if absent.
set -euo pipefail
java=${JAVA_HOME:-/opt/java/openjdk}/bin/java
cp="/opt/kafka/libs/*"
log="-Dlog4j2.configurationFile=file:/opt/kafka/log4j-console.properties"
case "${1:-broker}" in
  broker)
    conf=/opt/kafka/server.properties
    : > "$conf"
    while IFS='=' read -r name value; do
      case "$name" in KAFKA_HEAP_OPTS|KAFKA_OPTS) continue ;; KAFKA_*) ;; *) continue ;; esac
      key=$(echo "${name#KAFKA_}" | tr '[:upper:]' '[:lower:]' | tr '_' '.')
      echo "$key=$value" >> "$conf"
    done < <(env)
    grep -q '^log.dirs=' "$conf" || echo "log.dirs=/var/lib/kafka/data" >> "$conf"
    dir=$(sed -n 's/^log.dirs=//p' "$conf" | cut -d, -f1)
    if [ ! -f "$dir/meta.properties" ]; then
      "$java" $log -cp "$cp" kafka.tools.StorageTool format -t "${CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}" -c "$conf"
    fi
    exec "$java" ${KAFKA_HEAP_OPTS:--Xmx512m} ${KAFKA_OPTS:-} $log -cp "$cp" kafka.Kafka "$conf"
    ;;
  topics)
    shift
    bootstrap=""; names=()
    while [ $# -gt 0 ]; do
      case "$1" in --bootstrap-server) bootstrap=$2; shift 2 ;; *) names+=("$1"); shift ;; esac
    done
    for t in "${names[@]}"; do
      "$java" -Xmx256m $log -cp "$cp" org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --create --if-not-exists \
        --topic "${t%%:*}" --partitions "${t##*:}" --replication-factor 1
    done
    ;;
  *) exec "$@" ;;
esac
