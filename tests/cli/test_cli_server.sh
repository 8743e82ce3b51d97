#!/usr/bin/env bash
#
# test_cli_server: the caravan command against a real `regiond -dev`.
#
# Usage: test_cli_server.sh CARAVAN REGIOND CLI_NODES SOURCE_DIR
#
# Starts one regiond on free 127.0.0.1 ports with its data in a temporary
# directory, waits for it to lead (polling, with a deadline), and runs the
# commands an operator would: first with no client nodes (placements fail,
# with reasons and a blocked evaluation), then with nodes registered over
# RPC by CLI_NODES (placements succeed, nodes can be drained). Checks exit
# codes, what goes to stdout and stderr, and that -json prints JSON. The
# server is stopped by PID at the end, whatever happened. Ends with
# "N passed, M failed".

set -u

if [ $# -ne 4 ]; then
    echo "usage: $0 CARAVAN REGIOND CLI_NODES SOURCE_DIR" >&2
    exit 2
fi
CARAVAN=$1
REGIOND=$2
CLI_NODES=$3
SRC=$4
WORK=$(mktemp -d "${TMPDIR:-/tmp}/caravan-cli-server.XXXXXX")
SERVER_PID=

cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 1 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

passed=0
failed=0
OUT=$WORK/stdout
ERR=$WORK/stderr
RC=0

fail() {
    failed=$((failed + 1))
    echo "FAIL: $1: $2"
    echo "  --- stdout"
    sed 's/^/  | /' "$OUT" | head -40
    echo "  --- stderr"
    sed 's/^/  | /' "$ERR" | head -40
}

run() {
    "$CARAVAN" "$@" </dev/null >"$OUT" 2>"$ERR"
    RC=$?
}

matches() {
    local file=$1 re=$2
    case $re in
    "*") return 0 ;;
    "") [ ! -s "$file" ] ;;
    *) grep -Eq -- "$re" "$file" ;;
    esac
}

# expect NAME RC [STDOUT_RE] [STDERR_RE]: as in test_cli.sh ("" = empty,
# "*" = anything).
expect() {
    local name=$1 want_rc=$2 out_re=${3-"*"} err_re=${4-"*"}
    if [ "$RC" -ne "$want_rc" ]; then
        fail "$name" "exit status $RC, expected $want_rc"
    elif ! matches "$OUT" "$out_re"; then
        fail "$name" "stdout does not match /$out_re/"
    elif ! matches "$ERR" "$err_re"; then
        fail "$name" "stderr does not match /$err_re/"
    else
        passed=$((passed + 1))
    fi
}

# expect_one_line NAME: stderr is exactly one line (an error, no stack).
expect_one_line() {
    if [ "$(wc -l <"$ERR")" -eq 1 ]; then
        passed=$((passed + 1))
    else
        fail "$1" "expected exactly one line on stderr"
    fi
}

# expect_json NAME: stdout is one JSON document.
expect_json() {
    if command -v python3 >/dev/null; then
        if python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$OUT" 2>/dev/null; then
            passed=$((passed + 1))
        else
            fail "$1" "stdout is not JSON"
        fi
    elif grep -Eq '^[[{"]' "$OUT"; then
        passed=$((passed + 1))
    else
        fail "$1" "stdout does not look like JSON"
    fi
}

# A port in 20000..31999 nothing listens on now (bash's /dev/tcp connect
# fails) and not handed out before.
GIVEN=" "
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
        case $GIVEN in *" $p "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            GIVEN="$GIVEN$p "
            echo "$p"
            return 0
        fi
    done
    return 1
}

# ---- start a server -------------------------------------------------------------
# The simulated nodes never heartbeat: a long minimum TTL keeps them ready.
echo '{"heartbeat": {"min_ttl_s": 3600}}' >"$WORK/extra.json"
started=0
for attempt in 1 2 3; do
    HTTP=$(free_port) && RPC=$(free_port) && SERF=$(free_port) || break
    mkdir -p "$WORK/data$attempt"
    "$REGIOND" -dev -config "$WORK/extra.json" -data-dir "$WORK/data$attempt" \
        -http-port "$HTTP" -rpc-port "$RPC" -serf-port "$SERF" -log-level warn \
        >"$WORK/regiond.log" 2>&1 &
    SERVER_PID=$!
    export CARAVAN_ADDR="http://127.0.0.1:$HTTP"
    for _ in $(seq 1 200); do # up to 20 s
        kill -0 "$SERVER_PID" 2>/dev/null || break
        if "$CARAVAN" operator raft list-peers 2>/dev/null | grep -q ' leader '; then
            started=1
            break
        fi
        sleep 0.1
    done
    [ "$started" -eq 1 ] && break
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
done
if [ "$started" -ne 1 ]; then
    echo "FAIL: regiond did not start and lead; its log:"
    tail -20 "$WORK/regiond.log"
    exit 1
fi

# Job files: one group of `count` mock tasks asking `mem` MB, in dc1 (where
# the simulated nodes are).
job_file() {
    local id=$1 count=$2 mem=$3
    cat >"$WORK/$id.json" <<JOB
{"Job": {"ID": "$id", "Name": "$id", "Type": "service", "Datacenters": ["dc1"],
 "TaskGroups": [{"Name": "g", "Count": $count,
   "Tasks": [{"Name": "t", "Driver": "mock", "Config": {"run_for": "1h"},
              "Resources": {"CPU": 100, "MemoryMB": $mem}}]}]}}
JOB
    echo "$WORK/$id.json"
}
SMALL=$(job_file small 2 64)
OTHER=$(job_file other 1 64)
HUGE=$(job_file huge 1 65536)

# ---- no nodes: empty lists, the servers -----------------------------------------
run status
expect "status, no jobs" 0 '^No running jobs$' ""
run node status
expect "node status, no nodes" 0 "" ""
run node status -json
expect "node status -json" 0 '^\[' ""
expect_json "node status -json is JSON"
run server members
expect "server members" 0 "^Name +Address +Port +Status +Leader" ""
grep -Eq "127\.0\.0\.1 +$RPC +alive +true" "$OUT" && passed=$((passed + 1)) ||
    fail "server members" "no alive leader row for 127.0.0.1 $RPC"
run server members -json
expect_json "server members -json"
run operator raft list-peers
expect "operator raft list-peers" 0 "127\.0\.0\.1:$RPC +127\.0\.0\.1:$RPC +leader +true" ""
run operator raft list-peers -json
expect_json "operator raft list-peers -json"

# ---- job run with no nodes: placement failures, exit 2 ----------------------------
run job run "$SMALL"
expect "job run, no nodes" 2 '^==> .*: Monitoring evaluation "[0-9a-f]{8}"$' ""
expect "job run, no nodes: triggered by" 2 'Evaluation triggered by job "small"'
expect "job run, no nodes: failed" 2 'finished with status "complete" but failed to place all allocations:$'
expect "job run, no nodes: group" 2 'Task Group "g" \(failed to place 2 allocations\):$'
expect "job run, no nodes: reason" 2 '^      \* No nodes were eligible for evaluation$'
expect "job run, no nodes: blocked" 2 'Evaluation "[0-9a-f]{8}" waiting for additional capacity to place remainder$'
BLOCKED=$(sed -n 's/.*Evaluation "\([0-9a-f]*\)" waiting for additional.*/\1/p' "$OUT")

run job plan "$OTHER"
expect "job plan, new job" 1 '^\+ Job: "other"$' ""
expect "job plan, new job: group" 1 '^\+ Task Group: "g" \(1 create\)$'
expect "job plan, new job: task" 1 '^  \+ Task: "t" \(forces create\)$'
expect "job plan, new job: dry run" 1 '^- WARNING: Failed to place all allocations\.$'
expect "job plan, new job: hint" 1 "^caravan job run -check-index 0 $OTHER\$"
run job plan -json "$OTHER"
expect "job plan -json" 1 '"FailedTGAllocs"' ""
expect_json "job plan -json is JSON"
run job plan "$SMALL"
expect "job plan, unchanged job" 0 '^Job: "small"$' ""

run job status
expect "job status (list)" 0 '^ID +Type +Priority +Status +Submit Date$' ""
expect "job status (list): row" 0 '^small +service +50 +pending'
run status -json
expect_json "status -json"
run job status sma
expect "job status by prefix" 0 '^ID += small$' ""
expect "job status: summary" 0 '^g +2 +0 +0 +0 +0 +0 +0$'
expect "job status: placement failure" 0 '^Placement Failure$'
expect "job status: allocations" 0 '^No allocations placed$'
run job status -evals small
expect "job status -evals" 0 'blocked'
run job inspect small
expect "job inspect" 0 '^  "Job": \{$' ""
expect_json "job inspect is JSON"
run eval status "$BLOCKED"
expect "eval status (blocked)" 0 '^Status += blocked$' ""
run eval status -json "$BLOCKED"
expect_json "eval status -json"

# ---- errors: one line, exit 1 -------------------------------------------------------
run job status nope
expect "job status unknown" 1 "" '^Error querying job: Unexpected response code: 404 \(job not found\)$'
expect_one_line "job status unknown: one line"
run job inspect nope
expect "job inspect unknown" 1 "" '404'
run alloc status abcdef
expect "alloc status unknown" 1 "" '404 \(alloc not found\)'
run job stop nope
expect "job stop unknown" 1 "" '404'
run -address http://127.0.0.1:1 status
expect "unreachable (flag after command fails: usage)" 1 "" '^caravan: unknown subcommand'
run status -address http://127.0.0.1:1
expect "unreachable" 1 "" '^Error querying jobs: connection refused to 127\.0\.0\.1:1$'
expect_one_line "unreachable: one line"
CARAVAN_ADDR=http://127.0.0.1:1 "$CARAVAN" job run "$SMALL" </dev/null >"$OUT" 2>"$ERR"
RC=$?
expect "unreachable via CARAVAN_ADDR" 1 "" '^Error submitting job: connection refused to 127\.0\.0\.1:1$'
run status -region mars
expect "other region: 500" 1 "" '^Error querying jobs: Unexpected response code: 500 \(No path to region\)$'
expect_one_line "other region: one line"
CARAVAN_REGION=mars "$CARAVAN" status -region global </dev/null >"$OUT" 2>"$ERR"
RC=$?
expect "flag wins over CARAVAN_REGION" 0 '^ID ' ""
echo '{"Job": {"ID": "bad", "TaskGroups": [{"Name": "g", "Count": -1}]}}' >"$WORK/bad.json"
run job run "$WORK/bad.json"
expect "job run invalid job: 400" 1 "" '^Error submitting job: Unexpected response code: 400 \(.*Count'
expect_one_line "job run invalid job: one line"
run job run -bogus "$SMALL"
expect "bad flag" 1 "" '^caravan job run: flag provided but not defined: -bogus$'
grep -q '^Usage: caravan job run' "$ERR" && passed=$((passed + 1)) || fail "bad flag" "no usage"
run job run
expect "job run without a file" 1 "" '^Usage: caravan job run'
run node drain "$BLOCKED"
expect "node drain without -enable" 1 "" 'exactly one of -enable and -disable'
run status -address ftp://x
expect "bad address" 1 "" 'the scheme must be http'
run job plan -bogus "$SMALL"
expect "job plan bad flag: 255" 255 "" '^caravan job plan: flag provided'
run job plan "$WORK/missing.json"
expect "job plan missing file: 255" 255 "" '^Error: cannot open'

# ---- with nodes ------------------------------------------------------------------------
if ! "$CLI_NODES" "127.0.0.1:$RPC" 2 1024 >"$WORK/nodes" 2>"$WORK/nodes.err"; then
    echo "FAIL: registering nodes: $(cat "$WORK/nodes.err")"
    failed=$((failed + 1))
else
    NODE=$(head -1 "$WORK/nodes")
    run node status
    expect "node status" 0 '^ID +Node Pool +DC +Name +Class +Drain +Eligibility +Status$' ""
    [ "$(grep -c ' ready$' "$OUT")" -eq 2 ] && passed=$((passed + 1)) ||
        fail "node status" "expected two ready nodes"
    run node status "${NODE:0:6}"
    expect "node status ID" 0 "^ID += ${NODE:0:8}\$" ""
    expect "node status ID: drivers" 0 '^Drivers += .*mock'

    # The blocked evaluation of "small" is re-queued when nodes appear.
    for _ in $(seq 1 100); do
        "$CARAVAN" job status small >"$OUT" 2>"$ERR"
        grep -Eq '^g +0 +[12] +0|^g +0 +0 +0' "$OUT" && ! grep -q 'No allocations placed' "$OUT" && break
        sleep 0.1
    done
    RC=0
    expect "blocked job placed once nodes came" 0 '^[0-9a-f]{8} +[0-9a-f]{8} +g +0 +run +pending'

    run job run "$OTHER"
    expect "job run placed" 0 'Allocation "[0-9a-f]{8}" created: node "[0-9a-f]{8}", group "g"' ""
    expect "job run placed: finished" 0 '^==> .*: Evaluation "[0-9a-f]{8}" finished with status "complete"$'
    ALLOC=$(sed -n 's/.*Allocation "\([0-9a-f]*\)" created.*/\1/p' "$OUT" | head -1)
    run alloc status "$ALLOC"
    expect "alloc status" 0 "^ID += $ALLOC\$" ""
    expect "alloc status: job" 0 '^Job ID += other$'
    run alloc status -json "$ALLOC"
    expect_json "alloc status -json"

    run job plan "$HUGE"
    expect "job plan, too big" 1 '^    \* Dimension "memory" exhausted on 2 nodes$' ""
    expect "job plan, too big: exhausted" 1 '^    \* Resources exhausted on 2 nodes$'
    run job run -detach "$HUGE"
    expect "job run -detach" 0 '^Evaluation ID: [0-9a-f-]{36}$' ""

    run node eligibility -disable "$NODE"
    expect "node eligibility -disable" 0 "^Node \"$NODE\" scheduling eligibility set: ineligible for scheduling\$" ""
    run node eligibility -enable "$NODE"
    expect "node eligibility -enable" 0 'eligible for scheduling$' ""
    run node drain -enable -yes -deadline 10m "${NODE:0:6}"
    expect "node drain -enable" 0 "Node \"$NODE\" drain strategy set\$" ""
    run node status "$NODE"
    expect "node status: draining" 0 '^Drain += true$'
    run node drain -disable "$NODE"
    expect "node drain -disable" 0 "Node \"$NODE\" drain strategy unset\$" ""
fi

# ---- stop ---------------------------------------------------------------------------------
run job stop small
expect "job stop" 0 '^==> .*: Monitoring evaluation "[0-9a-f]{8}"$' ""
expect "job stop: finished" 0 'finished with status "complete"$'
run job status
expect "job status after stop" 0 '^small +service +50 +dead \(stopped\)'
run job stop -detach -purge other
expect "job stop -detach -purge" 0 '^[0-9a-f-]{36}$' ""
run job status other
expect "purged job" 1 "" '404 \(job not found\)'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
