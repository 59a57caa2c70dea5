-- wrk script: POST one revocation document per request with a Bearer token.
-- The token comes from the environment (SR_BENCH_TOKEN).
wrk.method = "POST"
wrk.body = '{"groups":["team_opsec"],"time":"30 minutes ago","action":"revoke","reason":"bench"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("SR_BENCH_TOKEN")
