-- wrk script for scripts/bench/receiver: every request POSTs the next pre-signed, unique notification body
-- from $BODIES (one per line); each wrk thread starts at its own offset. Prints one JSON line at the end.
local bodies = {}
local cursor = 0
local thread_count = 0

function setup(thread)
    thread:set("id", thread_count)
    thread_count = thread_count + 1
end

function init(args)
    for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
    -- wrk -t 2 (scripts/bench/receiver): the two threads start half the bodies apart, so they do not overlap.
    cursor = (id or 0) * math.floor(#bodies / 2)
end

function request()
    cursor = cursor % #bodies + 1
    return wrk.format("POST", nil, { ["Content-Type"] = "application/x-www-form-urlencoded" }, bodies[cursor])
end

function done(summary, latency, requests)
    local failed = summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.status + summary.errors.timeout
    io.write(string.format(
        '{"requests":%d,"failed":%d,"seconds":%.3f,"per_second":%.0f,"p50_ms":%.2f,"p99_ms":%.2f}\n',
        summary.requests, failed, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
