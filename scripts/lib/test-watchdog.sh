# Sourced by scripts/test. A test run that hangs must fail legibly instead of eating CI's time limit.
#
# test_watchdog LIMIT EVENTS: runs in the background for one `swift test`; when the run is still going after LIMIT
# seconds it prints every thread's backtrace of the test binary (gdb, when installed), then the tests that started
# and never finished (from EVENTS, the run's event stream), and kills the test binary so that `swift test` fails.

# The test binaries of this checkout that are running.
test_binaries() {
    pgrep -f "$PWD/.build/.*PackageTests\.xctest" || true
}

# Tests and suites that started and did not end, from EVENTS: Swift Testing's event stream (JSON lines, written as
# each event happens, unlike the console output, which a pipe buffers).
unfinished_tests() {
    python3 - "$1" <<'PY'
import json, sys
names, started, ended = {}, [], set()
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        record = json.loads(line)
    except ValueError:
        continue  # the line being written when the run stopped
    payload = record.get("payload", {})
    if record.get("kind") == "test":
        names[payload.get("id")] = payload.get("displayName") or payload.get("name")
    elif payload.get("kind") == "testStarted":
        started.append(payload.get("testID"))
    elif payload.get("kind") == "testEnded":
        ended.add(payload.get("testID"))
for test in started:
    if test not in ended:
        print(f"  {names.get(test, test)}   ({test})")
PY
}

test_watchdog() {
    local limit=$1 events=$2 waited=0
    while (( waited < limit )); do
        sleep 10
        waited=$(( waited + 10 ))
    done
    local pids
    pids=$(test_binaries)
    [[ -n $pids ]] || return 0
    echo
    echo "test: error: the test run did not finish within $limit s (ALIPAY_NOTIFY_TEST_TIMEOUT); stopping it"
    if command -v gdb > /dev/null; then
        for pid in $pids; do
            echo "test: backtraces of every thread of the test binary (pid $pid):"
            timeout 120 gdb -p "$pid" -batch -ex 'thread apply all bt 30' 2>&1 | grep -E '^(Thread|#)' || true
        done
    else
        echo "test: (gdb is not installed: no backtraces)"
    fi
    echo "test: tests that started and did not finish:"
    unfinished_tests "$events"
    # The daemons the hung tests started go too (servers that detached, such as PostgreSQL's, stay).
    local all=$pids
    for pid in $pids; do all+=" $(descendants "$pid")"; done
    for pid in $all; do kill -9 "$pid" 2>/dev/null || true; done
}

# Every process below PID.
descendants() {
    local child
    for child in $(pgrep -P "$1"); do
        echo "$child"
        descendants "$child"
    done
}
