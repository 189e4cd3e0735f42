-- wrk: GET /Users?filter=userName eq "…" for users the script loaded beforehand (USERS of them).
local token = os.getenv("TOKEN")
local users = tonumber(os.getenv("USERS") or "1000")
function request()
  local i = math.random(0, users - 1)
  local path = string.format("/scim/v2/Users?filter=userName%%20eq%%20%%22seed%06d%%40example.com%%22", i)
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end

function response(status)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. "\n")
  end
end
