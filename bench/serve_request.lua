-- serve_request.lua — wrk script for bench/serve_bench.sh (and bench/ab.sh,
-- bench/serve_tokens.sh): every request is the same
-- single-row Open Inference Protocol v2 prediction, POSTed to the path of the URL given to wrk
-- (http://127.0.0.1:PORT/v2/models/churn/infer).
--
-- The body is read from the file named by SERVE_BODY (default bench/out/serve_v2.json, which
-- serve_bench.sh writes from row 1 of data/mlc_churn.csv). No response() callback is
-- defined: wrk then skips parsing response bodies in Lua, which would cost the client more
-- than some of the servers spend per request. Statuses are still counted by wrk itself
-- ("Non-2xx or 3xx responses", summary.errors.status below).
--
-- At the end, done() prints one line "SERVE_BENCH_JSON {...}" with the counts and the
-- latency percentiles in microseconds, which serve_bench.sh parses.

local path = os.getenv("SERVE_BODY") or "bench/out/serve_v2.json"
local f = assert(io.open(path, "rb"), "serve_request.lua: cannot open " .. path)
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
-- SERVE_AUTH, when set, is sent as the Authorization header (bench/serve_tokens.sh:
-- "Bearer keel_..." for keel serve --require-token).
local auth = os.getenv("SERVE_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end

function done(summary, latency, requests)
    local e = summary.errors
    local secs = summary.duration / 1e6
    io.write(string.format(
        'SERVE_BENCH_JSON {"requests": %d, "seconds": %.6f, "rps": %.1f, "bytes": %d, ' ..
        '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
        '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, "p50": %d, "p90": %d, ' ..
        '"p99": %d, "p999": %d}}\n',
        summary.requests, secs, summary.requests / secs, summary.bytes,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency.mean, latency.stdev, latency.max, latency:percentile(50),
        latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
