-- wrk: POST /oauth2/introspect for access tokens read from the file $TOKENS (one per line),
-- authenticated as the app client $CLIENT_ID / $CLIENT_SECRET.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
local auth = "Basic " .. os.getenv("BASIC")
function request()
  local token = tokens[math.random(1, #tokens)]
  return wrk.format("POST", "/oauth2/introspect",
    {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = auth},
    "token=" .. token)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"active":true', 1, true) then
    io.stderr:write("unexpected answer " .. status .. "\n")
  end
end
