-- wrk: POST /Users with a userName unique per thread and request.
local thread_count = 0
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

local counter = 0
local token = os.getenv("TOKEN")
function request()
  counter = counter + 1
  local body = '{"userName":"load-' .. tid .. '-' .. counter .. '@example.com","title":"load"}'
  return wrk.format("POST", "/scim/v2/Users",
    {["Content-Type"] = "application/scim+json", ["Authorization"] = "Bearer " .. token}, body)
end

function response(status)
  if status ~= 201 then
    io.stderr:write("unexpected status " .. status .. "\n")
  end
end
