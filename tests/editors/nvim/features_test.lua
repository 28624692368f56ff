-- Headless checks of the parevo Neovim plugin that need no search: setup({}) sends its
-- settings as an object (no warning), `:help parevo` works after setup(), and K shows
-- the hover (the evidence) of a loop with a stored result, on 0.7 and on 0.11.
-- env: PAREVO_FILE, PAREVO_LINE (1-based loop line), PAREVO_PYTHON, PAREVO_OUT.
-- Writes JSON to $PAREVO_OUT; always exits with :qa! (or :cq! when writing fails).
local out = { messages = {}, steps = {} }
local env = function(k, d) return os.getenv(k) or d end
local function step(s) table.insert(out.steps, s) end
local function wait(ms, cond) return vim.wait(ms, cond, 50) end
local function json_encode(v)
  if vim.json and vim.json.encode then return vim.json.encode(v) end
  return vim.fn.json_encode(v)
end
local function floats()
  local found = {}
  for _, w in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(w).relative ~= "" then
      table.insert(found, table.concat(vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(w), 0, -1, false), "\n"))
    end
  end
  return found
end

local ok, err = pcall(function()
  vim.notify = function(msg) table.insert(out.messages, msg) end
  local parevo = require("parevo")
  -- what the documentation says to write; `python` only points at the test's interpreter
  parevo.setup({ python = env("PAREVO_PYTHON") })
  step("setup")

  -- :help parevo (setup() built doc/tags in this copy of the plugin)
  local help_ok, help_err = pcall(vim.cmd, "help parevo")
  out.help = help_ok and vim.fn.expand("%:t") or tostring(help_err)
  out.help_line = help_ok and vim.api.nvim_get_current_line() or ""
  if help_ok then vim.cmd("close") end
  step("help")

  vim.cmd("edit " .. vim.fn.fnameescape(env("PAREVO_FILE")))
  local buf = vim.api.nvim_get_current_buf()
  local client
  if not wait(60000, function()
    client = require("parevo.compat").client(buf)
    return client ~= nil and client.initialized
  end) then error("the server did not attach") end
  step("attached")
  -- the stored result shows: the server read its settings and the store
  if not wait(60000, function()
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      if d.message:find("ParlayLib rewrite verified", 1, true) then return true end
    end
    return false
  end) then error("no diagnostic from the stored result") end
  step("diagnostic")
  -- settings the server received (parevo.status): an object, the defaults
  local st
  require("parevo.compat").request(client, "workspace/executeCommand", { command = "parevo.status", arguments = {} },
    function(e, r) st = r or { error = e } end, buf)
  wait(10000, function() return st ~= nil end)
  out.server_settings_seed = st and st.settings and st.settings.seed
  wait(1500, function() return false end) -- any late window/showMessage

  -- K on the loop: the hover with the evidence, in a floating window
  vim.api.nvim_win_set_cursor(0, { tonumber(env("PAREVO_LINE")), 4 })
  vim.cmd("normal K")
  wait(15000, function()
    for _, t in ipairs(floats()) do
      if t:find("ParlayLib rewrite verified", 1, true) then return true end
    end
    return false
  end)
  out.floats = floats()
  step("hover")
end)
if not ok then out.error = tostring(err) end
local wrote = pcall(function()
  local f = assert(io.open(env("PAREVO_OUT"), "w"))
  f:write(json_encode(out))
  f:close()
end)
if wrote then vim.cmd("qa!") else vim.cmd("cq!") end
