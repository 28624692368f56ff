-- The :Parevo* commands. Each forwards to the server (workspace/executeCommand,
-- textDocument/codeAction + codeAction/resolve, textDocument/hover): no C++ here.
local compat = require("parevo.compat")
local messages = require("parevo.messages")

local M = {}

local APPLY_PREFIX = "Apply ParlayLib rewrite"
-- rewrite buffers of :ParevoDiff: scratch bufnr -> { client_id, action }
local pending = {}

local function notify(msg, level)
  messages.say("parevo: " .. msg, level or vim.log.levels.INFO)
end

--- The parevo client of the current buffer, or nil after saying why.
local function client_here(bufnr)
  local c = compat.client(bufnr)
  if c == nil then
    notify("no parevo server is attached to this buffer (is it a C or C++ file? see :help parevo-setup)",
      vim.log.levels.WARN)
  end
  return c
end

--- The current buffer and its parevo client (nil after saying why).
local function current()
  local bufnr = vim.api.nvim_get_current_buf()
  return bufnr, client_here(bufnr)
end

--- 0-based `line, end_line` of a command's range (end_line nil for one line).
local function lines_of(opts)
  local l1, l2 = opts.line1, opts.line2
  if l1 == nil or l2 == nil or l1 == l2 then
    return vim.api.nvim_win_get_cursor(0)[1] - 1, nil
  end
  return l1 - 1, l2 - 1
end

local function loop_args(bufnr, line, end_line)
  return { vim.uri_from_bufnr(bufnr), line, end_line == nil and vim.NIL or end_line }
end

local function execute(client, bufnr, command, arguments, on_result)
  compat.request(client, "workspace/executeCommand", { command = command, arguments = arguments },
    function(err, result)
      if err then
        notify(command .. " failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      elseif on_result then
        on_result(result or {})
      end
    end, bufnr)
end

--- :ParevoParallelize: start a search of the loop at the cursor (or in the range).
function M.parallelize(opts)
  local bufnr, client = current()
  if not client then
    return
  end
  local line, end_line = lines_of(opts or {})
  -- the server reports problems itself (window/showMessage) and progress via $/progress
  execute(client, bufnr, "parevo.parallelize", loop_args(bufnr, line, end_line))
end

--- :ParevoCancel: cancel the search of the loop at the cursor, else all (`!`: all).
function M.cancel(opts)
  local bufnr, client = current()
  if not client then
    return
  end
  local function all()
    execute(client, bufnr, "parevo.cancel", {}, function(r)
      notify((r.cancelled or 0) > 0 and ("cancelled " .. r.cancelled .. " search(es)") or "no search is running")
    end)
  end
  if opts and opts.bang then
    return all()
  end
  local line, end_line = lines_of(opts or {})
  execute(client, bufnr, "parevo.cancel", loop_args(bufnr, line, end_line), function(r)
    if (r.cancelled or 0) > 0 then
      notify("cancelled the search of this loop")
    else
      all()
    end
  end)
end

--- :ParevoReport: the evidence of the loop at the cursor (the hover) in a floating window.
function M.report()
  local bufnr, client = current()
  if not client then
    return
  end
  local line = vim.api.nvim_win_get_cursor(0)[1] - 1
  local params = { textDocument = { uri = vim.uri_from_bufnr(bufnr) }, position = { line = line, character = 0 } }
  compat.request(client, "textDocument/hover", params, function(err, result)
    if err or not result or not result.contents then
      M.explain_missing(client, bufnr, line, nil, "report")
      return
    end
    local c = result.contents
    local text = type(c) == "string" and c or c.value or ""
    local lines = vim.split(text, "\n", { plain = true })
    vim.lsp.util.open_floating_preview(lines, "markdown",
      { border = "rounded", focus_id = "parevo-report", max_width = 100, max_height = 40 })
  end, bufnr)
end

--- The server's "Apply ParlayLib rewrite" action of the loop at `line` (its edit resolved), or nil.
local function fetch_rewrite(client, bufnr, line, end_line, callback)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    range = { start = { line = line, character = 0 }, ["end"] = { line = end_line or line, character = 0 } },
    -- a verified race fix is the race's quick fix: ask for both kinds
    context = { diagnostics = {}, only = { "refactor.rewrite", "quickfix" } },
  }
  compat.request(client, "textDocument/codeAction", params, function(err, actions)
    if err then
      notify("code actions failed: " .. (err.message or ""), vim.log.levels.ERROR)
      return
    end
    for _, a in ipairs(actions or {}) do
      if type(a.title) == "string" and a.title:sub(1, #APPLY_PREFIX) == APPLY_PREFIX then
        if a.edit then
          return callback(a)
        end
        return compat.request(client, "codeAction/resolve", a, function(err2, resolved)
          if err2 or not resolved or not resolved.edit then
            notify("the rewrite cannot be applied: " .. ((err2 and err2.message) or "no edit"), vim.log.levels.WARN)
            return
          end
          callback(resolved)
        end, bufnr)
      end
    end
    M.explain_missing(client, bufnr, line, end_line, "rewrite")
  end, bufnr)
end

--- Say why the loop at `line` has no verified rewrite (`what` = "rewrite") or no report: never run,
--- running, searched without a verified rewrite, not parallelizable, racy, stale (parevo.loopStatus).
function M.explain_missing(client, bufnr, line, end_line, what)
  execute(client, bufnr, "parevo.loopStatus", loop_args(bufnr, line, end_line), function(st)
    local state, msg = st.state or "never-run", st.message or ""
    local text = ({
      ["no-loop"] = "no loop at the cursor: " .. msg,
      ["never-run"] = "parevo has not searched this loop yet: run :ParevoParallelize",
      queued = "a search of this loop is queued; its result appears when it ends",
      running = "a search of this loop is running; its result appears when it ends",
      ["none-verified"] = "parevo searched this loop and verified no rewrite (:ParevoReport says why): " .. msg,
      ["not-parallelizable"] = "this loop cannot be parallelized as it stands: " .. msg,
      races = "this loop has a data race: the code action \"Fix data race with ParlayLib\" searches a fix",
      ["race-free"] = "this loop is already parallel and race-free: " .. msg,
      stale = msg .. ": run :ParevoParallelize again",
      error = "parevo could not run on this loop: " .. msg,
    })[state] or msg
    if what == "rewrite" and state == "verified" then
      text = "the verified rewrite no longer applies to this buffer: run :ParevoParallelize again"
    end
    notify(text)
  end)
end

--- The text edits of `edit` for buffer `bufnr`.
local function edits_for(edit, bufnr)
  local uri = vim.uri_from_bufnr(bufnr)
  local out = {}
  for _, change in ipairs(edit.documentChanges or {}) do
    if change.textDocument and change.textDocument.uri == uri then
      vim.list_extend(out, change.edits or {})
    end
  end
  vim.list_extend(out, (edit.changes or {})[uri] or {})
  return out
end

local function apply(client, action)
  vim.lsp.util.apply_workspace_edit(action.edit, client.offset_encoding or "utf-16")
end

--- :ParevoApply: apply the verified rewrite of the loop at the cursor (in a :ParevoDiff buffer: that one).
function M.apply(opts)
  local p = pending[vim.api.nvim_get_current_buf()]
  if p then -- in the rewrite buffer of :ParevoDiff
    local client = vim.lsp.get_client_by_id(p.client_id)
    local scratch_win = vim.api.nvim_get_current_win()
    if client then
      apply(client, p.action)
      vim.cmd("diffoff!")
      vim.api.nvim_win_close(scratch_win, true)
    end
    return
  end
  local bufnr, client = current()
  if not client then
    return
  end
  local line, end_line = lines_of(opts or {})
  fetch_rewrite(client, bufnr, line, end_line, function(action)
    apply(client, action)
  end)
end

--- :ParevoDiff: the verified rewrite beside the current code, in diff mode (:ParevoApply there applies it).
function M.diff(opts)
  local bufnr, client = current()
  if not client then
    return
  end
  local line, end_line = lines_of(opts or {})
  local ft = vim.bo[bufnr].filetype
  fetch_rewrite(client, bufnr, line, end_line, function(action)
    local scratch = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_lines(scratch, 0, -1, false, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
    vim.lsp.util.apply_text_edits(edits_for(action.edit, bufnr), scratch, client.offset_encoding or "utf-16")
    vim.bo[scratch].modifiable = false
    vim.bo[scratch].bufhidden = "wipe"
    vim.bo[scratch].filetype = ft
    pcall(vim.api.nvim_buf_set_name, scratch, "parevo://" .. action.title .. "/" .. vim.fn.expand("%:t"))
    pending[scratch] = { client_id = client.id, action = action }
    vim.api.nvim_create_autocmd("BufWipeout", { buffer = scratch, callback = function() pending[scratch] = nil end })
    vim.cmd("diffthis")
    vim.cmd("vertical rightbelow sbuffer " .. scratch)
    vim.cmd("diffthis")
    notify(action.title .. ": :ParevoApply applies it, :q closes the diff")
  end)
end

--- :ParevoStatus: the server's toolchain and running searches.
function M.status()
  local bufnr, client = current()
  if not client then
    return
  end
  execute(client, bufnr, "parevo.status", {}, function(st)
    local tc = st.toolchain or {}
    local lines = {
      "compiler: " .. tostring(tc.cxx or "?"),
      "ParlayLib: " .. tostring(tc.parlay_include or "?"),
      "problem: " .. tostring(st.toolchainProblem ~= vim.NIL and st.toolchainProblem or "none"),
      "searches: " .. tostring(#(st.jobs or {})),
    }
    messages.float(lines, "parevo-status")
  end)
end

return M
