#!/bin/bash
# jobmanager | taskmanager: writes $FLINK_CONF_DIR/config.yaml (these defaults, then $FLINK_PROPERTIES, as
# Flink's own image does), computes the memory flags with Flink's BashJavaUtils (as its scripts do) and runs
# the process in the foreground. flink ARGS: Flink's client. cli ARGS: the project's CLI (produce, consume, run ...).
set -euo pipefail
home=${MISTRAL_FLINK_HOME:-/opt/mistral-flink}
conf=${FLINK_CONF_DIR:-$home/conf}
java=${JAVA_HOME:-/opt/java/openjdk}/bin/java
cp="$home/lib/*"
flags=(-XX:+IgnoreUnrecognizedVMOptions --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED
  --sun-misc-unsafe-memory-access=allow -Dai.djl.offline=true
  --add-exports=java.base/sun.net.util=ALL-UNNAMED --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens=java.base/java.text=ALL-UNNAMED --add-opens=java.base/java.time=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent=ALL-UNNAMED --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED
  "-Dlog4j.configurationFile=file:$home/log4j-console.properties")

write_conf() {
  mkdir -p "$conf"
  local props=${FLINK_PROPERTIES:-}
  local defaults="jobmanager.rpc.address: ${JOB_MANAGER_RPC_ADDRESS:-jobmanager}
jobmanager.bind-host: 0.0.0.0
taskmanager.bind-host: 0.0.0.0
rest.address: ${JOB_MANAGER_RPC_ADDRESS:-jobmanager}
rest.bind-address: 0.0.0.0
blob.server.port: 6124
taskmanager.memory.process.size: 1728m
jobmanager.memory.process.size: 1024m"
  {
    echo "# written by the entrypoint: defaults not in FLINK_PROPERTIES, then FLINK_PROPERTIES"
    while IFS= read -r line; do
      key=${line%%:*}
      grep -q "^[[:space:]]*$key[[:space:]]*:" <<< "$props" || echo "$line"
    done <<< "$defaults"
    echo "$props"
  } > "$conf/config.yaml"
}

# Flink's BashJavaUtils prints the JVM memory flags and the dynamic configuration, as for bin/jobmanager.sh.
resource_params() {
  "$java" "${flags[@]}" -cp "$cp" org.apache.flink.runtime.util.bash.BashJavaUtils "$1" --configDir "$conf" \
    | sed -n 's/^BASH_JAVA_UTILS_EXEC_RESULT://p'
}

case "${1:-cli}" in
  jobmanager)
    write_conf
    params=$(resource_params GET_JM_RESOURCE_PARAMS)
    exec "$java" "${flags[@]}" $(head -n1 <<< "$params") -cp "$cp" org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint \
      --configDir "$conf" $(tail -n1 <<< "$params")
    ;;
  taskmanager)
    write_conf
    params=$(resource_params GET_TM_RESOURCE_PARAMS)
    exec "$java" "${flags[@]}" $(head -n1 <<< "$params") -cp "$cp" org.apache.flink.runtime.taskexecutor.TaskManagerRunner \
      --configDir "$conf" $(tail -n1 <<< "$params")
    ;;
  flink)
    shift
    [ -f "$conf/config.yaml" ] || write_conf
    exec "$java" "${flags[@]}" -cp "$cp" org.apache.flink.client.cli.CliFrontend "$@"
    ;;
  cli)
    shift
    exec "$java" "${flags[@]}" -Dmistral.flink.home="$home" -cp "$cp:$home/job.jar" io.mistralflink.job.Cli "$@"
    ;;
  *) exec "$@" ;;
esac
