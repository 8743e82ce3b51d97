#!/usr/bin/env bash
# Runs a development region on this machine: installs what is missing, builds
# (build/release), starts the servers on 127.0.0.1 with the embedded store,
# waits until they have elected a leader, then starts one client agent
# (nodeagent -dev: raw_exec and mock drivers) and waits until its node is
# ready. Ctrl-C stops them gracefully (the agent leaves its tasks running,
# as Nomad's client does: stop your jobs first).
#
#   ops/run-dev.sh              one server: regiond -dev (temporary data), one agent
#   ops/run-dev.sh -servers 3   three servers: ops/examples/regiond-{1,2,3}.json
#                               (HTTP on 4646, 5646, 6646), data in build/dev-region
#
# Logs: build/dev-region/*.log. Data survives a restart of the script
# (three servers); remove build/dev-region to start afresh.
set -euo pipefail
cd "$(dirname "$0")/.."

servers=1
while [ $# -gt 0 ]; do
    case "$1" in
    -servers) servers=${2:?-servers needs 1 or 3}; shift 2 ;;
    -h | -help | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "run-dev: unknown argument $1 (try -h)" >&2; exit 2 ;;
    esac
done
case "$servers" in 1 | 3) ;; *) echo "run-dev: -servers must be 1 or 3" >&2; exit 2 ;; esac

ops/build.sh >/dev/null
regiond=build/release/regiond/regiond
nodeagent=build/release/nodeagent/nodeagent
caravan=build/release/cli/caravan
dir=build/dev-region
mkdir -p "$dir"

pids=()
stop() {
    trap - INT TERM EXIT
    echo
    echo "run-dev: stopping the agent and ${#pids[@]} server(s)"
    if [ -n "${agent_pid:-}" ]; then
        kill -TERM "$agent_pid" 2>/dev/null || true
        wait "$agent_pid" 2>/dev/null || true
    fi
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop INT TERM EXIT

# GET path from 127.0.0.1:port with bash's /dev/tcp; prints the body.
http_get() {
    local port=$1 path=$2
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
    sed '1,/^\r$/d' <&3
    exec 3<&-
}

ports=()
if [ "$servers" = 1 ]; then
    "$regiond" -dev -log-file "$dir/regiond-dev.log" &
    pids+=($!)
    ports=(4646)
else
    for n in 1 2 3; do
        "$regiond" -config "ops/examples/regiond-$n.json" -data-dir "$dir/data-$n" \
            -log-file "$dir/regiond-$n.log" &
        pids+=($!)
    done
    ports=(4646 5646 6646)
fi

echo "run-dev: waiting for a leader (logs in $dir)"
leader=""
for _ in $(seq 1 300); do
    for pid in "${pids[@]}"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "run-dev: a server exited; see $dir/*.log" >&2
            tail -n 20 "$dir"/*.log >&2 || true
            exit 1
        fi
    done
    leader=$(http_get "${ports[0]}" /v1/status/leader 2>/dev/null || true)
    if [ -n "$leader" ] && [ "$leader" != '""' ]; then break; fi
    sleep 0.1
done
if [ -z "$leader" ] || [ "$leader" = '""' ]; then
    echo "run-dev: no leader after 30 s; see $dir/*.log" >&2
    exit 1
fi

# One client agent, registered with every server of the region.
rpc_addrs=$(for p in "${ports[@]}"; do printf '127.0.0.1:%d,' $((p + 1)); done)
"$nodeagent" -dev -servers "${rpc_addrs%,}" -data-dir "$dir/agent" -name dev-agent \
    -log-file "$dir/nodeagent.log" &
agent_pid=$!
echo "run-dev: waiting for the agent's node to be ready"
ready=""
for _ in $(seq 1 300); do
    if ! kill -0 "$agent_pid" 2>/dev/null; then
        echo "run-dev: the agent exited; see $dir/nodeagent.log" >&2
        tail -n 20 "$dir/nodeagent.log" >&2 || true
        exit 1
    fi
    ready=$(http_get "${ports[0]}" /v1/nodes 2>/dev/null | grep -o '"Status":"ready"' || true)
    if [ -n "$ready" ]; then break; fi
    sleep 0.1
done
if [ -z "$ready" ]; then
    echo "run-dev: the agent's node is not ready after 30 s; see $dir/nodeagent.log" >&2
    exit 1
fi

echo "run-dev: region \"global\" is up with $servers server(s) and one client; leader (RPC) $leader"
for p in "${ports[@]}"; do echo "  HTTP API: http://127.0.0.1:$p"; done
cat <<EOF
Try:
  export CARAVAN_ADDR=http://127.0.0.1:${ports[0]}
  $caravan job run ops/examples/hello.json
  $caravan job status hello
  $caravan job stop hello
Ctrl-C stops the region.
EOF
wait
