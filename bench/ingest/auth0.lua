-- wrk script: POST one Auth0 log stream batch per request (Content Format
-- "JSON array", the shape of tests/data/auth0/logstream-json-array.json):
-- 100 records, of which 5 (every 20th) are an admin blocking a user (a
-- "sapi" PATCH of /api/v2/users/{id} with "blocked": true, kind
-- user_blocked) and the other 95 successful logins ("s"). Every record has
-- a log_id of its own across the whole run and across runs, so nothing is a
-- redelivery (a replay would cost the service less than a new event):
--   900 <run: 14 digits> <wrk thread: 2> 0... <batch: 12> <record: 3>
-- 56 digits, like Auth0's. Environment: SR_BENCH_AUTHORIZATION (the whole
-- Authorization value to send), SR_BENCH_RUN (digits, different per run).
local run = os.getenv("SR_BENCH_RUN") or os.date("!%Y%m%d%H%M%S")
local authorization = os.getenv("SR_BENCH_AUTHORIZATION")
local per_batch, every = 100, 20

local threads = 0
function setup(thread)
	threads = threads + 1
	thread:set("tid", threads)
end

-- The two records of the sample, compact, cut around the places that vary.
local blocked_a = '{"log_id":"'
local blocked_b = '","data":{"date":"'
local blocked_c = '","type":"sapi","description":"Update a user",' ..
	'"client_id":"Xk3vR9qLm2TbW7yZpA4sD8fG1hJ6nC0e","client_name":"","ip":"203.0.113.24",' ..
	'"user_agent":"Chrome 124.0.0 / Mac OS X 14.4.1","details":{"request":{"method":"patch",' ..
	'"path":"/api/v2/users/auth0|bench'
local blocked_d = '","query":{},"userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) ' ..
	'AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",' ..
	'"body":{"blocked":true},"channel":"https://manage.auth0.com/","ip":"203.0.113.24",' ..
	'"auth":{"user":{"user_id":"auth0|65f0a1b2c3d4e5f6a7b8c9d0",' ..
	'"name":"secops.admin@example.com","email":"secops.admin@example.com"},' ..
	'"strategy":"jwt","credentials":{"jti":"5c1e9a0b7d3f4e2a8b6c0d1e2f3a4b5c"}}},' ..
	'"response":{"statusCode":200,"body":{"user_id":"auth0|bench'
local blocked_e = '","email":"jane.doe@example.com","blocked":true,' ..
	'"updated_at":"2026-03-12T08:14:58.390Z"}}},"user_id":"auth0|65f0a1b2c3d4e5f6a7b8c9d0",' ..
	'"$event_schema":{"version":"1.0.0"},"tenant_name":"example",' ..
	'"environment_name":"prod-eu-1","log_id":"'
local login_a = '{"log_id":"'
local login_b = '","data":{"date":"'
local login_c = '","type":"s","description":"Successful login",' ..
	'"connection":"Username-Password-Authentication","connection_id":"con_a1B2c3D4e5F6g7H8",' ..
	'"client_id":"pQ7rS8tU9vW0xY1zA2bC3dE4fG5hI6jK","client_name":"Example Portal",' ..
	'"ip":"198.51.100.77","user_agent":"Firefox 125.0.0 / Linux 0.0.0",' ..
	'"details":{"prompts":[],"initiatedAt":1773305097000,"completedAt":1773305099031,' ..
	'"elapsedTime":2031,"session_id":"Zx9Cv8Bn7Mm6Ll5Kk4Jj3Hh2Gg1Ff0Dd"},' ..
	'"hostname":"example.auth0.com","user_id":"samlp|corp-idp|k.nakamura@example.com",' ..
	'"user_name":"k.nakamura@example.com","strategy":"samlp","strategy_type":"enterprise",' ..
	'"tenant_name":"example","log_id":"'
local close = '"}}'

local headers = {["Content-Type"] = "application/json"}
if authorization ~= nil and authorization ~= "" then
	headers["Authorization"] = authorization
end
local batch = 0
local parts = {}

function request()
	local date = os.date("!%Y-%m-%dT%H:%M:%S.000Z")
	local prefix = string.format("900%s%02d%s", run, tid or 0, string.rep("0", 36 - #run))
	local n = 0
	batch = batch + 1
	local stem = prefix .. string.format("%012d", batch)
	n = n + 1; parts[n] = "["
	for i = 0, per_batch - 1 do
		local id = stem .. string.format("%03d", i)
		if i > 0 then
			n = n + 1; parts[n] = ","
		end
		if i % every == 0 then
			local user = string.sub(id, -20)
			n = n + 1; parts[n] = blocked_a
			n = n + 1; parts[n] = id
			n = n + 1; parts[n] = blocked_b
			n = n + 1; parts[n] = date
			n = n + 1; parts[n] = blocked_c
			n = n + 1; parts[n] = user
			n = n + 1; parts[n] = blocked_d
			n = n + 1; parts[n] = user
			n = n + 1; parts[n] = blocked_e
		else
			n = n + 1; parts[n] = login_a
			n = n + 1; parts[n] = id
			n = n + 1; parts[n] = login_b
			n = n + 1; parts[n] = date
			n = n + 1; parts[n] = login_c
		end
		n = n + 1; parts[n] = id
		n = n + 1; parts[n] = close
	end
	n = n + 1; parts[n] = "]"
	return wrk.format("POST", nil, headers, table.concat(parts, "", 1, n))
end
