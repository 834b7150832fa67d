-- wrk script for scripts/bench-retention.sh: POST /api/feedback with a JSON body for the client given after `--`.
-- Prints machine-readable figures at the end (latencies in microseconds).

init = function(args)
  local client = args[1] or "client_missing"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = '{"clientId":"' .. client .. '","rating":3,"comment":"Load test feedback from the retention benchmark",'
    .. '"pageUrl":"https://app.example.com/settings","environment":"production"}'
end

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT requests=%d non2xx=%d errors=%d seconds=%.2f p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.errors.status, errors, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
