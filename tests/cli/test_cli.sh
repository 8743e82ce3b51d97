#!/usr/bin/env bash
#
# test_cli: the public face of the caravan command: what it prints, where
# (stdout or stderr) and with which exit status.
#
# Usage: test_cli.sh CARAVAN_BINARY TESTS_DIR
#
# Every job in TESTS_DIR/corpus/valid must validate, and every job in
# TESTS_DIR/corpus/invalid must fail with exit 1 and print exactly the lines
# of its .err file on stderr, nothing on stdout. Ends with "N passed,
# M failed" and exits non-zero when anything failed.

set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 CARAVAN_BINARY TESTS_DIR" >&2
    exit 2
fi
CARAVAN=$1
TESTS=$2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/caravan-cli-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
OUT=$WORK/stdout
ERR=$WORK/stderr
RC=0

pass() {
    passed=$((passed + 1))
}

# fail NAME WHY: records a failure and shows what the command printed.
fail() {
    failed=$((failed + 1))
    echo "FAIL: $1: $2"
    echo "  --- stdout"
    sed 's/^/  | /' "$OUT"
    echo "  --- stderr"
    sed 's/^/  | /' "$ERR"
}

# run ARGS...: runs caravan with stdin from /dev/null; sets RC, OUT, ERR.
run() {
    "$CARAVAN" "$@" </dev/null >"$OUT" 2>"$ERR"
    RC=$?
}

# run_stdin FILE ARGS...: the same with FILE as stdin.
run_stdin() {
    local input=$1
    shift
    "$CARAVAN" "$@" <"$input" >"$OUT" 2>"$ERR"
    RC=$?
}

# expect NAME RC [STDOUT_RE] [STDERR_RE]: checks the exit status and that
# each output matches its extended regular expression ("" = must be empty,
# "*" = anything).
expect() {
    local name=$1 want_rc=$2 out_re=${3-"*"} err_re=${4-"*"}
    if [ "$RC" -ne "$want_rc" ]; then
        fail "$name" "exit status $RC, expected $want_rc"
        return
    fi
    if ! matches "$OUT" "$out_re"; then
        fail "$name" "stdout does not match /$out_re/"
        return
    fi
    if ! matches "$ERR" "$err_re"; then
        fail "$name" "stderr does not match /$err_re/"
        return
    fi
    pass
}

matches() {
    local file=$1 re=$2
    case $re in
    "*") return 0 ;;
    "") [ ! -s "$file" ] ;;
    *) grep -Eq -- "$re" "$file" ;;
    esac
}

# expect_exact NAME RC STDOUT_FILE STDERR_FILE: outputs equal files byte for byte.
expect_exact() {
    local name=$1 want_rc=$2 want_out=$3 want_err=$4
    if [ "$RC" -ne "$want_rc" ]; then
        fail "$name" "exit status $RC, expected $want_rc"
    elif ! cmp -s "$OUT" "$want_out"; then
        fail "$name" "stdout differs from $want_out"
    elif ! cmp -s "$ERR" "$want_err"; then
        fail "$name" "stderr differs from $want_err: $(diff "$want_err" "$ERR" | head -5)"
    else
        pass
    fi
}

EMPTY=$WORK/empty
: >"$EMPTY"
SUCCESS=$WORK/success
echo "Job validation successful" >"$SUCCESS"

# ---- version ------------------------------------------------------------------
run version
expect "caravan version" 0 '^Caravan v[0-9]+\.[0-9]+\.[0-9]+$' ""
[ "$(wc -l <"$OUT")" -eq 1 ] && pass || fail "caravan version" "expected one line"
run -v
expect "caravan -v" 0 '^Caravan v[0-9]+\.[0-9]+\.[0-9]+$' ""
run --version
expect "caravan --version" 0 '^Caravan v[0-9]+\.[0-9]+\.[0-9]+$' ""
run version extra
expect "caravan version extra" 1 "" "takes no arguments"

# ---- help -----------------------------------------------------------------------
run -h
expect "caravan -h" 0 '^Usage: caravan ' ""
run --help
expect "caravan --help" 0 '^Usage: caravan ' ""
run job -h
expect "caravan job -h" 0 '^Usage: caravan job ' ""
run job validate -h
expect "caravan job validate -h" 0 '^Usage: caravan job validate ' ""
run job validate -help
expect "caravan job validate -help" 0 '^Usage: caravan job validate ' ""
run version -h
expect "caravan version -h" 0 '^Usage: caravan version' ""
for cmd in "job run" "job plan" "job status" "job stop" "job inspect" "node status" \
    "node drain" "node eligibility" "alloc status" "eval status" "server members" \
    "operator raft list-peers" "status"; do
    # shellcheck disable=SC2086 # the words of cmd are separate arguments
    run $cmd -h
    expect "caravan $cmd -h" 0 "^Usage: caravan $cmd " ""
done

# ---- usage errors: exit 1 (as Nomad), usage on stderr, nothing on stdout -------------------
run
expect "caravan (no args)" 1 "" '^Usage: caravan '
run bogus
expect "caravan bogus" 1 "" 'unknown subcommand "bogus"'
run job
expect "caravan job (no args)" 1 "" '^Usage: caravan job '
run job bogus
expect "caravan job bogus" 1 "" 'unknown subcommand "bogus"'
run job validate
expect "caravan job validate (no args)" 1 "" '^Usage: caravan job validate '
run job validate -x "$TESTS/corpus/valid/service-minimal.json"
expect "caravan job validate -x FILE" 1 "" '^Usage: caravan job validate '
run job validate --bogus
expect "caravan job validate --bogus" 1 "" '^Usage: caravan job validate '
run job validate a.json b.json
expect "caravan job validate (two files)" 1 "" '^Usage: caravan job validate '

# ---- job validate: files, stdin, failures --------------------------------------
run job validate "$WORK/does-not-exist.json"
expect "missing file" 1 "" "^Error: cannot open $WORK/does-not-exist.json: No such file or directory$"
run job validate "$WORK"
expect "directory as file" 1 "" "^Error: cannot read $WORK: Is a directory$"

run_stdin "$TESTS/corpus/valid/service-minimal.json" job validate -
expect_exact "valid job on stdin" 0 "$SUCCESS" "$EMPTY"

invalid_stdin=$TESTS/corpus/invalid/job-priority-zero
run_stdin "$invalid_stdin.json" job validate -
expect_exact "invalid job on stdin" 1 "$EMPTY" "$invalid_stdin.err"

run job validate - # stdin is /dev/null
expect "empty stdin" 1 "" '^empty input: expected a JSON value$'

printf 'job "web" {\n  type = "service"\n}\n' >"$WORK/web.hcl"
run job validate "$WORK/web.hcl"
expect "HCL file gets a hint" 1 "" '^hint: Caravan reads jobs in JSON'
[ "$(wc -l <"$ERR")" -eq 2 ] && grep -q '^invalid JSON at line 1' "$ERR" && pass ||
    fail "HCL file gets a hint" "expected the hint then the parse error"

# ---- the corpus -----------------------------------------------------------------
valid=0
for job in "$TESTS"/corpus/valid/*.json; do
    [ -e "$job" ] || continue
    valid=$((valid + 1))
    run job validate "$job"
    expect_exact "valid: $(basename "$job")" 0 "$SUCCESS" "$EMPTY"
done
[ "$valid" -ge 8 ] && pass || fail "valid corpus" "found $valid files, expected at least 8"

invalid=0
for job in "$TESTS"/corpus/invalid/*.json; do
    [ -e "$job" ] || continue
    invalid=$((invalid + 1))
    run job validate "$job"
    expect_exact "invalid: $(basename "$job")" 1 "$EMPTY" "${job%.json}.err"
done
[ "$invalid" -ge 45 ] && pass || fail "invalid corpus" "found $invalid files, expected at least 45"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
