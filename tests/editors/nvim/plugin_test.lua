-- Headless end-to-end run of the parevo Neovim plugin (extension/nvim), as a user would:
--   setup() -> open $PAREVO_FILE, whose loop (line $PAREVO_LINE, 1-based) has a verified
--   result in the workspace's store -> the speedup diagnostic -> :ParevoReport (floating
--   window) -> :ParevoDiff (diff split) -> "Apply ParlayLib rewrite" through
--   vim.lsp.buf.code_action() with vim.ui.select replaced to pick by title -> :write;
--   then open $PAREVO_LIVE_FILE (the same loop, no result yet) and :ParevoParallelize it:
--   progress through the standard $/progress handler, echoed and in status() from one
--   state, until the search's verdict (verified, or "not faster" on a loaded machine).
-- Writes what it saw to $PAREVO_OUT as JSON for pytest; always exits with :qa!
-- (or :cq! when even writing the JSON fails). Runs on Neovim 0.7 and 0.8+.

local out = { steps = {}, progress = {}, picked = {}, offered = {}, messages = {}, views = {} }
local env = function(k, d) return os.getenv(k) or d end
local file, line = env("PAREVO_FILE"), tonumber(env("PAREVO_LINE"))
local timeout_ms = tonumber(env("PAREVO_TIMEOUT_MS", "900000"))

local function json_encode(v)
  if vim.json and vim.json.encode then return vim.json.encode(v) end
  return vim.fn.json_encode(v)
end
local function step(name) table.insert(out.steps, name) end
local function wait(ms, cond) return vim.wait(ms, cond, 50) end

--- After the plugin's own progress handler (defined first): the echo and the statusline of one update.
local function both_views()
  table.insert(out.views, { echo = require("parevo.progress").text() or "", status = require("parevo").status() })
end

-- record progress as the standard handler stores it (we never replace $/progress)
local function watch_progress()
  if vim.fn.has("nvim-0.10") == 1 then
    vim.api.nvim_create_autocmd("LspProgress", { callback = function(ev)
      local v = ((ev.data or {}).params or {}).value or {}
      table.insert(out.progress, { kind = v.kind, message = v.message })
      both_views()
    end })
  else
    local seen = {}
    vim.api.nvim_create_autocmd("User", { pattern = "LspProgressUpdate", callback = function()
      for _, c in ipairs(vim.lsp.get_active_clients()) do
        for token, p in pairs(c.name == "parevo" and c.messages.progress or {}) do
          local kind = p.done and "end" or (seen[token] and "report" or "begin")
          if seen[token] ~= "end" then
            seen[token] = kind
            table.insert(out.progress, { kind = kind, message = p.message })
          end
        end
      end
      both_views()
    end })
  end
end

local function count_ends()
  local n = 0
  for _, p in ipairs(out.progress) do if p.kind == "end" then n = n + 1 end end
  return n
end

local function find_diag(buf, pattern)
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    if d.source == "parevo" and d.message:find(pattern) then return d end
  end
  return nil
end

local function buf_text(buf) return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n") end

local function float_windows()
  local wins = {}
  for _, w in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(w).relative ~= "" then table.insert(wins, w) end
  end
  return wins
end

local function attached(buf)
  local client
  if not wait(60000, function()
    client = require("parevo.compat").client(buf)
    return client ~= nil and client.initialized and (client.server_capabilities or client.resolved_capabilities) ~= nil
  end) then error("the plugin did not start and attach the server") end
  return client
end

local ok, err = pcall(function()
  -- the plugin under test: extension/nvim is on 'runtimepath' (nvim --cmd "set rtp^=...")
  local parevo = require("parevo")
  local notify = vim.notify
  vim.notify = function(msg, level, o) table.insert(out.messages, msg); return notify(msg, level, o) end
  parevo.setup({
    python = env("PAREVO_PYTHON"),
    settings = vim.fn.json_decode(env("PAREVO_SETTINGS", "{}")),
  })
  out.commands = {}
  for _, c in ipairs({ "ParevoParallelize", "ParevoCancel", "ParevoReport", "ParevoDiff", "ParevoApply",
                       "ParevoStatus", "ParevoMessages" }) do
    out.commands[c] = vim.fn.exists(":" .. c) == 2
  end
  watch_progress()

  vim.cmd("edit " .. vim.fn.fnameescape(file)) -- FileType cpp -> the plugin starts and attaches the server
  local buf = vim.api.nvim_get_current_buf()
  local v = vim.version()
  out.nvim = string.format("%d.%d.%d", v.major, v.minor, v.patch)
  out.client_name = attached(buf).name
  step("attached")

  -- the stored verified result shows on open
  if not wait(60000, function() return find_diag(buf, "ParlayLib rewrite verified") ~= nil end) then
    error("the stored result did not show")
  end
  local d = find_diag(buf, "ParlayLib rewrite verified")
  out.diagnostic = { message = d.message, lnum = d.lnum, severity = d.severity }
  step("diagnostic")

  -- :ParevoReport: the evidence in a floating window
  vim.api.nvim_win_set_cursor(0, { line, 2 })
  vim.cmd("ParevoReport")
  if not wait(10000, function() return #float_windows() > 0 end) then error(":ParevoReport opened no window") end
  local fw = float_windows()[1]
  out.report = buf_text(vim.api.nvim_win_get_buf(fw))
  vim.api.nvim_win_close(fw, true)
  step("report")

  -- :ParevoDiff: the rewrite in a diff split, the file untouched
  vim.cmd("ParevoDiff")
  local dw
  if not wait(10000, function()
    for _, w in ipairs(vim.api.nvim_list_wins()) do
      if vim.api.nvim_buf_get_name(vim.api.nvim_win_get_buf(w)):find("^parevo://") then dw = w; return true end
    end
    return false
  end) then error(":ParevoDiff opened no rewrite window") end
  out.diff = { text = buf_text(vim.api.nvim_win_get_buf(dw)), diff_mode = vim.api.nvim_win_get_option(dw, "diff"),
               file_unchanged = buf_text(buf):find("parlay::", 1, true) == nil }
  vim.cmd("diffoff!")
  vim.api.nvim_win_close(dw, true)
  step("diff")

  -- apply through the code-action UI, picking by title
  vim.ui.select = function(items, _, on_choice)
    local titles = {}
    for _, it in ipairs(items) do
      local a = it.action or it[2] or it -- 0.8+: { action = , ctx = }; 0.7: { client_id, action }
      table.insert(titles, a.title or "?")
    end
    table.insert(out.offered, titles)
    for i, t in ipairs(titles) do
      if t:find("^Apply ParlayLib rewrite") then
        table.insert(out.picked, t)
        return on_choice(items[i], i)
      end
    end
    on_choice(nil, nil)
  end
  vim.api.nvim_set_current_win(vim.fn.bufwinid(buf))
  vim.api.nvim_win_set_cursor(0, { line, 2 })
  vim.lsp.buf.code_action()
  if not wait(30000, function() return buf_text(buf):find("parlay::", 1, true) ~= nil end) then
    error("the rewrite was not applied")
  end
  step("applied")
  vim.cmd("write")
  out.text = buf_text(buf)
  out.cleared = wait(10000, function() return find_diag(buf, "ParlayLib rewrite verified") == nil end)
  step("written")

  -- a live search of the same loop in another file: progress, one state for echo and statusline
  vim.cmd("edit " .. vim.fn.fnameescape(env("PAREVO_LIVE_FILE")))
  local live = vim.api.nvim_get_current_buf()
  attached(live)
  vim.api.nvim_win_set_cursor(0, { line, 2 })
  local before = count_ends()
  vim.cmd("ParevoParallelize")
  step("parallelize")
  if not wait(timeout_ms, function() return count_ends() > before end) then
    error("the search did not end within the timeout")
  end
  wait(10000, function()
    return find_diag(live, "ParlayLib rewrite verified") ~= nil or find_diag(live, "no rewrite") ~= nil
  end)
  local verdict = find_diag(live, "ParlayLib rewrite verified") or find_diag(live, "no rewrite")
  out.live_verdict = verdict and verdict.message or nil
  out.status_line = parevo.status()
  out.echo_line = require("parevo.progress").text()
  step("verdict")
end)

if not ok then out.error = tostring(err) end
local wrote = pcall(function()
  local f = assert(io.open(env("PAREVO_OUT"), "w"))
  f:write(json_encode(out))
  f:close()
end)
if wrote then vim.cmd("qa!") else vim.cmd("cq!") end
