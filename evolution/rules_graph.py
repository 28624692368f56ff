"""Rule templates for graph loops: level-synchronous frontiers and relaxations to a fixpoint.

Both rewrites keep the ``while`` loop (it is sequential: one level or sweep
after the other) and run each level or sweep in parallel; the facts come from
:mod:`parevo.toolchain.facts_graph`, which states why the results are the
serial loop's.

* ``rule:frontier-flatten`` (proposed first, when the level loop's body is a
  CSR edge loop and the claiming condition reads the claimed vertex's own
  state only): ParlayLib's BFS. Per level the frontier's edge slices are
  walked in their flattened order by blocks (positions from a scan of their
  lengths, nothing copied), the targets whose byte (one per vertex, set once
  before the loop from the condition and kept equal to it) allows them are
  claimed by the first block holding them (``parlay::write_min``), and the
  winners' blocks run in parallel and form the next frontier in the loop's
  order; when every claimed vertex ends with the same reads and ``next`` is
  local (``Frontier.uniform_reads``: ``dist[v] = dist[u] + 1``), the order
  changes nothing and one exchange of the byte claims a target, as in
  ParlayLib's BFS. See :func:`frontier_flatten_candidate` for why that is the
  serial level and what makes a level run as written instead.
* ``rule:frontier-levels`` (breadth-first search and its relatives): per
  level, blocks of the frontier run the loop over it as written, except that
  the ``if`` block claiming a vertex records the block's locals instead; the
  first record of each vertex in the loop's order wins it (a 64-bit
  ``parlay::write_min`` of the record's position, so the winner is the one the
  serial loop would have taken); the winners' blocks run in parallel (each
  writes only its own vertex's elements) and the next frontier is the winners
  in order. A level in which a frontier vertex is won, a winner's condition
  still holds after its block, or a vertex falls outside the arrays runs as
  written instead (the winners' elements are restored first), so every level
  ends as the serial loop's does.
* ``rule:relaxation-sweeps`` (label propagation): each sweep is a
  ``parlay::parallel_for`` over the vertices; the labels are read and stored
  with relaxed atomic operations (``__atomic_load_n``/``__atomic_store_n``: no
  data race, no copy of the array), the iteration's own label through a local
  copy (no other iteration writes it) stored once after its edges, and the
  flag becomes an atomic set (only while unset) by any iteration that stores.
"""

from __future__ import annotations

from parevo.evolution.candidates import Candidate
from parevo.evolution.rule_frame import Names, build_frame, call_with_lambda, indent, lam, span_lines, wrap
from parevo.toolchain.facts import analyze
from parevo.toolchain.models import LoopFacts, Span
from parevo.toolchain.parsing import build_site
from parevo.toolchain.site import ParsedSite
from parevo.toolchain.syntax import block_statements, condition_value, node_at, node_text

PAR = "<parlay/parallel.h>"
PRIM = "<parlay/primitives.h>"
_EMPTY = "static_cast<unsigned char>(255)"
_RELAXED = "std::memory_order_relaxed"


def _text(site: ParsedSite, span: Span) -> str:
    return site.src[span.start_byte:span.end_byte].decode("utf-8", errors="replace")


def frontier_candidates(site: ParsedSite, facts: LoopFacts) -> list[Candidate]:
    """``rule:frontier-flatten`` (when it applies) and ``rule:frontier-levels`` for ``facts.frontier`` (see
    the module docstring), in that order. Both keep the next frontier in the serial loop's order: a level
    that runs as written after a parallel one must see the serial frontier (an earlier rule that let any block
    claim a vertex reordered it, and a multi-source BFS with weighted distances then differed:
    ``bfs_many_sources`` in the graph family).

    The claim of a vertex is the smallest id of a block that records it, kept in one byte per vertex (a
    ``parlay::write_min`` on ``std::atomic<unsigned char>``; 255 = unclaimed; at most 254 blocks): small
    enough to stay in cache, unlike a position per vertex. Within the winning block the first record of
    the vertex wins: it finds the claim equal to its block and resets it to unclaimed, so every later
    record of the vertex (in its block or a later one) finds another value and loses.
    """
    fr = facts.frontier
    if fr is None:
        return []
    loop = site.loop_node
    src = site.src
    names = Names(site)
    dom, claim, x, nf, nb, cand, b, got, iu, k, bad, serial, saved, again, w, sv, r, at, old = (
        names.get(n) for n in ("dom", "claim", "x", "n_front", "n_blocks", "records", "blk", "got", "iu", "kk",
                               "outside", "as_written", "saved", "again", "kept", "sv", "rec", "at", "old_size"))
    rec_types = [rv.type for rv in fr.record]
    pos = {rv.name: j for j, rv in enumerate(fr.record)}
    iv = pos[fr.pushed]
    Rec = f"std::tuple<{', '.join(rec_types)}>"
    vtx = f"std::get<{iv}>"
    u8 = "unsigned char"
    cond = node_text(condition_value(loop.child_by_field_name("condition")), src).strip()
    level_loop = node_at(site.root, fr.level_loop.start_byte, fr.level_loop.end_byte)
    stmts = block_statements(loop.child_by_field_name("body"))
    k_level = next(j for j, st in enumerate(stmts) if st.id == level_loop.id)
    before = [ln for st in stmts[:k_level] for ln in span_lines(site, _span(st))]
    after = [ln for st in stmts[k_level + 1:] for ln in span_lines(site, _span(st))]
    # phase 1: each block runs the loop over its part of the frontier as written, the claiming block
    # recording the locals it reads; then it claims the recorded vertices with its id
    record = f"{{ {got}.emplace_back({', '.join(rv.name for rv in fr.record)}); }}"
    body = span_lines(site, _body_span(level_loop), [(fr.claim_block.start_byte, fr.claim_block.end_byte, record)],
                      strip_braces=True)
    if fr.index is None:
        bind = [f"{fr.vertex_decl} = {fr.frontier}[{iu}];"]
    else:
        bind = [f"const {fr.index_type} {fr.index} = static_cast<{fr.index_type}>({iu});"]
    phase1 = [f"auto& {got} = {cand}[{b}];",
              f"for (size_t {iu} = {nf} * {b} / {nb}; {iu} < {nf} * ({b} + 1) / {nb}; ++{iu}) {{"]
    phase1 += indent(bind + body) + ["}"]
    phase1 += [f"for (const auto& {r} : {got}) {{",
               f"  const size_t {x} = static_cast<size_t>({vtx}({r}));",
               f"  if ({x} >= {dom}) {{ {bad}.store(true, {_RELAXED}); continue; }}",
               f"  parlay::write_min(&{claim}[{x}], static_cast<{u8}>({b}), std::less<{u8}>());",
               "}"]
    # phase 2: the first record of each vertex in the winning block wins (and unclaims the vertex); the
    # winners run their blocks, and each checks that its condition no longer holds
    unpack = [f"const {rv.type} {rv.name} = std::get<{j}>({r});" for j, rv in enumerate(fr.record)]
    unpack += [f"(void){rv.name};" for rv in fr.record]
    block = [ln for st in block_statements(node_at(site.root, fr.claim_block.start_byte, fr.claim_block.end_byte))
             if (st.start_byte, st.end_byte) != (fr.push.start_byte, fr.push.end_byte)
             for ln in span_lines(site, _span(st))]
    elems = ", ".join(f"std::decay_t<decltype({a}[0])>" for a in fr.written)
    keep = [f"auto& {got} = {cand}[{b}];", "size_t " + w + " = 0;",
            f"for (size_t {k} = 0; {k} < {got}.size(); ++{k}) {{",
            f"  auto& {x} = {claim}[static_cast<size_t>({vtx}({got}[{k}]))];",
            f"  if ({x}.load({_RELAXED}) == static_cast<{u8}>({b})) {{",
            f"    {x}.store({_EMPTY}, {_RELAXED});",
            f"    {got}[{w}++] = {got}[{k}];",
            "  }",
            "}", f"{got}.resize({w});", f"auto& {sv} = {saved}[{b}];", f"{sv}.reserve({w});",
            f"for (const auto& {r} : {got}) {{"]
    keep += indent(unpack + [f"{sv}.emplace_back({', '.join(f'{a}[{fr.pushed}]' for a in fr.written)});"] + block
                   + [f"if ({cond_of_claim(site, fr)}) {again}.store(true, {_RELAXED});"]) + ["}"]
    restore = [f"for (size_t {k} = 0; {k} < {cand}[{b}].size(); ++{k}) {{",
               f"  const auto {x} = {vtx}({cand}[{b}][{k}]);"]
    restore += [f"  {a}[{x}] = std::get<{j}>({saved}[{b}][{k}]);" for j, a in enumerate(fr.written)] + ["}"]
    append = [f"for (size_t {k} = 0; {k} < {cand}[{b}].size(); ++{k}) "
              f"{fr.next}[{old} + {at}[{b}] + {k}] = {vtx}({cand}[{b}][{k}]);"]
    unclaim = [f"for (const auto& {r} : {cand}[{b}]) {{",
               f"  const size_t {x} = static_cast<size_t>({vtx}({r}));",
               f"  if ({x} < {dom}) {claim}[{x}].store({_EMPTY}, {_RELAXED});", "}"]
    level = [f"const size_t {nf} = {fr.frontier}.size();",
             f"const size_t {nb} = std::max<size_t>(1, std::min<size_t>({{{nf} / 16, 8 * parlay::num_workers(), "
             "254}));",
             f"std::vector<std::vector<{Rec}>> {cand}({nb});",
             f"std::atomic<bool> {bad}{{false}};"]
    level += call_with_lambda(f"parlay::parallel_for(0, {nb}, ", lam(b, "", phase1), ", 1);")
    level += [f"bool {serial} = {bad}.load();",
              f"if (!{serial}) {{  // a vertex of this frontier claimed in its own level: the level runs as written",
              f"  {serial} = parlay::any_of(parlay::iota({nf}), [&](size_t {iu}) {{",
              f"    const size_t {x} = static_cast<size_t>({fr.frontier}[{iu}]);",
              f"    return {x} < {dom} && {claim}[{x}].load({_RELAXED}) != {_EMPTY};",
              "  });", "}",
              f"if ({serial}) {{"]
    level += indent(call_with_lambda(f"parlay::parallel_for(0, {nb}, ", lam(b, "", unclaim), ", 1);")) + ["} else {"]
    inner = [f"std::vector<std::vector<std::tuple<{elems}>>> {saved}({nb});", f"std::atomic<bool> {again}{{false}};"]
    inner += call_with_lambda(f"parlay::parallel_for(0, {nb}, ", lam(b, "", keep), ", 1);")
    inner += [f"if ({again}.load()) {{  // a winner's condition still holds: restore, and run the level as written"]
    inner += indent(call_with_lambda(f"parlay::parallel_for(0, {nb}, ", lam(b, "", restore), ", 1);")
                    + [f"{serial} = true;"])
    inner += ["} else {"]
    inner += indent([f"std::vector<size_t> {at}({nb} + 1, 0);",
                     f"for (size_t {b} = 0; {b} < {nb}; ++{b}) {at}[{b} + 1] = {at}[{b}] + {cand}[{b}].size();",
                     f"const size_t {old} = {fr.next}.size();",
                     f"{fr.next}.resize({old} + {at}[{nb}]);"]
                    + call_with_lambda(f"parlay::parallel_for(0, {nb}, ", lam(b, "", append), ", 1);"))
    inner += ["}"]
    level += indent(inner) + ["}"]
    level += [f"if ({serial}) {{"] + indent(span_lines(site, fr.level_loop)) + ["}"]
    lines = [f"const size_t {dom} = std::size({fr.domain});",
             f"std::vector<std::atomic<{u8}>> {claim}({dom});",
             f"parlay::parallel_for(0, {dom}, [&](size_t {x}) {{ {claim}[{x}].store({_EMPTY}, {_RELAXED}); }});",
             f"while ({cond}) {{"]
    lines += indent(before + ["{"] + indent(level) + ["}"] + after) + ["}"]
    flat = frontier_flatten_candidate(site, facts)
    return ([flat] if flat is not None else []) + [Candidate(
        loop_text=wrap(lines), includes=[PRIM, PAR, "<atomic>", "<tuple>", "<vector>", "<algorithm>", "<functional>",
                                         "<iterator>", "<type_traits>"],
        origin="rule:frontier-levels",
        description=("level-synchronous frontier: blocks of the frontier record candidate vertices in parallel, the "
                     "first record of each vertex in the loop's order wins it (parlay::write_min of block ids), "
                     "winners run their blocks in parallel and form the next frontier in order; a level that could "
                     "differ runs as written"),
        params={"form": "levels", "blocks_per_worker": 8})]


def frontier_flatten_candidate(site: ParsedSite, facts: LoopFacts) -> Candidate | None:
    """``rule:frontier-flatten``: ParlayLib's own BFS (the frontier's edge slices flattened, the targets a flag
    per vertex allows kept, the winners' blocks run), when the facts make it the serial loop's computation.

    It applies when the level loop's body is a CSR edge loop (``Frontier.edges``: the pairs a level visits are
    the slices ``ADJ[LO(u) .. HI(u))`` of the frontier in order, so their concatenation lists the targets in
    the serial loop's order), the claiming block reads the frontier vertex only through ``vertex_reads`` and
    the condition depends on the claimed vertex's own state only (``Frontier.own_condition``: its arrays are
    read at ``[v]`` only and written, in the loop, only by the claiming block at ``[v]``). The concatenation
    is not copied (``parlay::flatten`` writes four bytes per edge and level: in ParlayLib's BFS on the bench
    kernel that took about a third of the serial loop's time): a ``parlay::scan_inplace`` of the slices' lengths gives each slice
    its position in it, and blocks of positions walk the slices in place.

    Why the result is the serial loop's: a vertex's condition then changes only when its own block runs, so
    one byte per vertex, set once before the loop to 255 where the condition holds and 0 where it does not,
    stays equal to it as long as every block that runs updates it: a parallel level's winners clear it (their
    condition is checked false after their block), and a level run as written recomputes it for the vertices
    it pushed (only those ran a block). In a level whose frontier vertices all have a false condition (so none
    is claimed during the level and their ``X[u]`` stay fixed) and whose ``X[u]`` are equal (both checked in
    the pass over the frontier that reads the slices), the serial loop claims exactly the targets whose byte
    is 255, each at its first occurrence in the concatenation, provided a claimed vertex's condition is false
    after its block (checked per winner). The first occurrence is found in the byte itself: each block of
    positions walks its targets in order and keeps (and stores its id, 1 … 254, in the byte of) those whose
    byte is above its id; the first block holding a target keeps it at its first occurrence there (no
    smaller id is ever stored in that byte), and once every block has walked, each block writes its id with
    ``parlay::write_min`` on its kept targets, so the byte ends at that first block. A kept target whose
    byte holds the block's id is won at its first kept entry (the byte cleared, so a later entry loses), the
    block run (in parallel with the other blocks' winners, ``u`` bound to any frontier vertex as
    their reads are equal, each writing only its own elements). The next frontier is the blocks' winners in
    block order: the serial order, so a later level run as written sees the serial frontier. A level in
    which a check fails, or a target falls outside the arrays, runs as written (the kept targets' bytes and the
    winners' elements restored first). The checks cost O(frontier) in the pass over the frontier and
    O(winners) after the blocks.

    When the facts give ``uniform_reads`` and ``next_is_local``, any claimant will do: a block keeps a target
    when it exchanges the byte from 255 to 0 (``compare_exchange_strong``: one winner per target, no ids, no
    ``write_min`` pass), and the next frontier holds the same vertices in an order the serial loop may not
    have. Why that order changes nothing: every vertex a parallel level claims ends with ``X[v] = E`` of the
    frontier's equal reads, so the next frontier's reads are equal and a level never runs as written because
    they differ; a level that runs as written for another reason (a winner's condition still true, a target
    outside the arrays: the serial loop indexes out of bounds there) processes a frontier whose reads are
    equal, where each target's block runs as many times as its occurrences find the condition true, in any
    order, with the same ``u`` reads; and ``next``, local to the loop's body, is seen by nothing after it.
    Measured on the benchmark's BFS (n = 524,288, 2 threads, harness timing): 27.0 ms with block ids against
    24.8 ms by exchange, ParlayLib's own BFS 24.3 ms.
    """
    fr = facts.frontier
    if (fr is None or fr.edges is None or fr.own_condition is None or fr.vertex_reads is None
            or not fr.vertex_decl):
        return None
    ed = fr.edges
    loop, src = site.loop_node, site.src
    names = Names(site)
    dom, seen, x, nf, first, bad, no, nb, b, cands, saved, again, serial, old, at, iu, p, lo, hi, mine, s_, pre, \
        beg, w, end, k = (names.get(n) for n in (
            "dom", "seen", "x", "n_front", "first", "bad", "n_edges", "n_blocks", "blk", "cands", "saved", "again",
            "as_written", "old_size", "at", "iu", "pos", "lo", "hi", "mine", "state", "edge_at", "edge_lo", "kept",
            "stop", "kk"))
    p0 = names.get("from_pos")
    VT = next(rv.type for rv in fr.record if rv.name == fr.pushed)
    IT = ed.index_type
    v, u = fr.pushed, fr.vertex
    u8 = "unsigned char"
    cond = node_text(condition_value(loop.child_by_field_name("condition")), src).strip()
    ccond = cond_of_claim(site, fr)
    level_loop = node_at(site.root, fr.level_loop.start_byte, fr.level_loop.end_byte)
    stmts = block_statements(loop.child_by_field_name("body"))
    k_level = next(j for j, st in enumerate(stmts) if st.id == level_loop.id)
    before = [ln for st in stmts[:k_level] for ln in span_lines(site, _span(st))]
    after = [ln for st in stmts[k_level + 1:] for ln in span_lines(site, _span(st))]
    arrays = list(dict.fromkeys(fr.written + fr.own_condition))
    sizes = ", ".join(f"std::size({a})" for a in arrays)
    dom_expr = f"std::size({arrays[0]})" if len(arrays) == 1 else f"std::min<size_t>({{{sizes}}})"
    elems = ", ".join(f"std::decay_t<decltype({a}[0])>" for a in fr.written)
    reads = ", ".join(fr.vertex_reads)
    block = [ln for st in block_statements(node_at(site.root, fr.claim_block.start_byte, fr.claim_block.end_byte))
             if (st.start_byte, st.end_byte) != (fr.push.start_byte, fr.push.end_byte)
             for ln in span_lines(site, _span(st))]
    # the frontier's edge slices: where each starts in ADJ and in the flattened order; its vertices must have
    # a false condition and equal reads
    same = f" || std::make_tuple({reads}) != {first}" if fr.vertex_reads else ""
    slices = [f"{fr.vertex_decl} = {fr.frontier}[{iu}];",
              f"const size_t {x} = static_cast<size_t>({u});",
              f"if ({x} >= {dom} || {seen}[{x}].load({_RELAXED}) != 0{same}) {bad}.store(true, {_RELAXED});",
              f"const {IT} {lo} = {_text(site, ed.lower)};",
              f"const {IT} {hi} = {lo} < ({_text(site, ed.upper)}) ? static_cast<{IT}>({_text(site, ed.upper)}) : "
              f"{lo};",
              f"{beg}[{iu}] = {lo};", f"{pre}[{iu}] = static_cast<size_t>({hi} - {lo});"]
    # a block's part of the flattened targets, in order (`v` bound to each)
    walk = [f"const size_t {p0} = {no} * {b} / {nb}, {end} = {no} * ({b} + 1) / {nb};",
            f"size_t {iu} = static_cast<size_t>(std::upper_bound({pre}.begin(), {pre}.begin() + {nf}, {p0}) - "
            f"{pre}.begin()) - 1;",
            f"for (size_t {p} = {p0}; {p} < {end}; ++{iu}) {{",
            f"  const size_t {hi} = std::min({end}, {pre}[{iu} + 1]);",
            f"  if ({iu} + 16 < {nf} && {pre}[{iu} + 17] > {pre}[{iu} + 16]) "
            f"__builtin_prefetch(std::data({ed.adjacency}) + {beg}[{iu} + 16]);",
            f"  for (; {p} < {hi}; ++{p}) {{",
            f"    const {VT} {v} = {ed.adjacency}[static_cast<{IT}>({beg}[{iu}] + static_cast<{IT}>({p} - "
            f"{pre}[{iu}]))];"]
    # pass 1: a block keeps the targets whose byte is above its id (their first occurrence in it, and again
    # when a later block overwrote it) and stores its id there; then the keepers write their id with
    # parlay::write_min where the byte is above it, so it ends at the first block holding the target (a
    # plain store in the walk: a locked write_min per target there stalls the walk's loads)
    ordered = not (fr.uniform_reads and fr.next_is_local)
    if ordered:
        claim = [f"const {u8} {mine} = static_cast<{u8}>({b} + 1);", f"auto& {k} = {cands}[{b}];", f"{k}.clear();"]
        keep = [f"if ({seen}[{x}].load({_RELAXED}) > {mine}) {{", f"  {seen}[{x}].store({mine}, {_RELAXED});",
                f"  {k}.push_back({v});", "}"]
    else:  # any claimant will do: one exchange of the byte decides it (ParlayLib's BFS)
        claim = [f"auto& {k} = {cands}[{b}];", f"{k}.clear();"]
        keep = [f"{u8} {s_} = 255;",
                f"if ({seen}[{x}].load({_RELAXED}) == 255 && {seen}[{x}].compare_exchange_strong({s_}, 0)) "
                f"{k}.push_back({v});"]
    claim += walk + indent([f"const size_t {x} = static_cast<size_t>({v});",
                            f"if ({x} >= {dom}) {{ {bad}.store(true, {_RELAXED}); continue; }}"] + keep, 2) \
        + ["  }", "}"]
    least = [f"const {u8} {mine} = static_cast<{u8}>({b} + 1);", f"for (const {VT} {v} : {cands}[{b}]) {{",
             f"  const size_t {x} = static_cast<size_t>({v});",
             f"  if ({seen}[{x}].load({_RELAXED}) > {mine}) parlay::write_min(&{seen}[{x}], {mine}, "
             f"std::less<{u8}>());", "}"]
    # pass 2: a kept target whose byte still holds the block's id is won by it: the byte cleared, the block run
    run = ([f"const {u8} {mine} = static_cast<{u8}>({b} + 1);"] if ordered else []) + [
        f"auto& {k} = {cands}[{b}];", f"auto& {w} = {saved}[{b}];", f"{w}.clear();", f"size_t {at} = 0;",
        f"for (size_t {p} = 0; {p} < {k}.size(); ++{p}) {{"]
    won = ([f"if ({seen}[{x}].load({_RELAXED}) != {mine}) continue;", f"{seen}[{x}].store(0, {_RELAXED});"]
           if ordered else [])
    run += indent([f"const {VT} {v} = {k}[{p}];", f"const size_t {x} = static_cast<size_t>({v});"] + won
                  + [f"{k}[{at}++] = {v};", f"{w}.emplace_back({', '.join(f'{a}[{v}]' for a in fr.written)});",
                     f"{fr.vertex_decl} = {fr.frontier}[0];", f"(void){u};"] + block
                  + [f"if ({ccond}) {again}.store(true, {_RELAXED});"]) + ["}", f"{k}.resize({at});"]
    if ordered:
        reset = [f"for (const {VT} {v} : {cands}[{b}]) {{", f"  const size_t {x} = static_cast<size_t>({v});",
                 f"  const {u8} {s_} = {seen}[{x}].load({_RELAXED});",
                 f"  if ({s_} != 0 && {s_} != 255) {seen}[{x}].store(255, {_RELAXED});", "}"]
    else:  # a kept target was claimed by this block alone
        reset = [f"for (const {VT} {v} : {cands}[{b}]) {seen}[static_cast<size_t>({v})].store(255, {_RELAXED});"]
    restore = [f"for (size_t {p} = 0; {p} < {cands}[{b}].size(); ++{p}) {{",
               f"  const size_t {x} = static_cast<size_t>({cands}[{b}][{p}]);"]
    restore += [f"  {a}[{x}] = std::get<{j}>({saved}[{b}][{p}]);" for j, a in enumerate(fr.written)]
    restore += [f"  {seen}[{x}].store(255, {_RELAXED});", "}"]
    append = [f"std::copy({cands}[{b}].begin(), {cands}[{b}].end(), {fr.next}.begin() + {old} + {at}[{b}]);"]
    level = [f"const size_t {nf} = {fr.frontier}.size();", f"bool {serial} = true;",
             f"if ({nf} > 0 && static_cast<size_t>({fr.frontier}[0]) < {dom}) {{"]
    par = ([f"const auto {first} = [&]() {{ {fr.vertex_decl} = {fr.frontier}[0]; return std::make_tuple({reads}); "
            "}();"] if fr.vertex_reads else []) + [f"std::atomic<bool> {bad}{{false}};",
                                                   f"{pre}.resize({nf} + 1);", f"{beg}.resize({nf});"]
    par += call_with_lambda(f"parlay::parallel_for(0, {nf}, ", lam(iu, "", slices), ");")
    par += [f"{pre}[{nf}] = 0;",
            f"const size_t {no} = parlay::scan_inplace(parlay::make_slice({pre}.begin(), "
            f"{pre}.begin() + {nf} + 1)), {nb} = std::max<size_t>(1, std::min<size_t>({{{no} / 1024, "
            f"8 * parlay::num_workers(), 254}}));"]
    par += [f"if (!{bad}.load()) {{"]
    body = call_with_lambda(f"parlay::parallel_for(0, {nb}, ", lam(b, "", claim), ", 1);")
    body += [f"if ({bad}.load()) {{  // a target outside the arrays: the claims undone, the level runs as written"]
    body += indent(call_with_lambda(f"parlay::parallel_for(0, {nb}, ", lam(b, "", reset), ", 1);"))
    body += ["} else {"]
    win = call_with_lambda(f"parlay::parallel_for(0, {nb}, ", lam(b, "", least), ", 1);") if ordered else []
    win += [f"std::atomic<bool> {again}{{false}};"]
    win += call_with_lambda(f"parlay::parallel_for(0, {nb}, ", lam(b, "", run), ", 1);")
    win += [f"if ({again}.load()) {{  // a winner's condition still holds: restore, and run the level as written"]
    win += indent(call_with_lambda(f"parlay::parallel_for(0, {nb}, ", lam(b, "", restore), ", 1);"))
    win += ["} else {"]
    win += indent([f"std::vector<size_t> {at}({nb} + 1, 0);",
                   f"for (size_t {b} = 0; {b} < {nb}; ++{b}) {at}[{b} + 1] = {at}[{b}] + {cands}[{b}].size();",
                   f"const size_t {old} = {fr.next}.size();", f"{fr.next}.resize({old} + {at}[{nb}]);"]
                  + call_with_lambda(f"parlay::parallel_for(0, {nb}, ", lam(b, "", append), ", 1);")
                  + [f"{serial} = false;"])
    win += ["}"]
    body += indent(win) + ["}"]
    par += indent(body) + ["}"]
    level += indent(par) + ["}"]
    resync = [f"const {VT} {v} = {fr.next}[{p}];", f"const size_t {x} = static_cast<size_t>({v});",
              f"if ({x} < {dom}) {seen}[{x}].store(({ccond}) ? 255 : 0, {_RELAXED});"]
    level += [f"if ({serial}) {{  // the vertices it pushed are the only ones whose condition changed"]
    level += indent(span_lines(site, fr.level_loop)
                    + call_with_lambda(f"parlay::parallel_for(0, {fr.next}.size(), ", lam(p, "", resync), ");"))
    level += ["}"]
    init = [f"const {VT} {v} = static_cast<{VT}>({x});", f"{seen}[{x}].store(({ccond}) ? 255 : 0, {_RELAXED});"]
    lines = [f"const size_t {dom} = {dom_expr};",
             f"std::vector<std::atomic<{u8}>> {seen}({dom});"]
    lines += call_with_lambda(f"parlay::parallel_for(0, {dom}, ", lam(x, "", init), ");")
    lines += [f"std::vector<std::vector<{VT}>> {cands}(254);",
              f"std::vector<std::vector<std::tuple<{elems}>>> {saved}(254);",
              f"std::vector<size_t> {pre};", f"std::vector<{IT}> {beg};",
              f"while ({cond}) {{"]
    lines += indent(before + ["{"] + indent(level) + ["}"] + after) + ["}"]
    return Candidate(
        loop_text=wrap(lines), includes=[PRIM, PAR, "<parlay/sequence.h>", "<parlay/slice.h>", "<atomic>", "<tuple>",
                                         "<vector>", "<algorithm>", "<functional>", "<iterator>", "<type_traits>"],
        origin="rule:frontier-flatten",
        description=("level-synchronous frontier in ParlayLib's BFS form: the frontier's edge slices walked in their "
                     "flattened order by blocks, each target whose (kept, per-vertex) condition byte allows it claimed "
                     + ("by the first block holding it (parlay::write_min), its first occurrence there runs the block; "
                        "the next frontier is the winners in the loop's order" if ordered else
                        "by one exchange of its byte (every claimed vertex ends with the same reads, so the order of "
                        "the next frontier changes nothing)")
                     + "; a level that could differ runs as written"),
        params={"form": "flatten", "blocks_per_worker": 8})


def cond_of_claim(site: ParsedSite, fr) -> str:
    """The claiming ``if``'s condition as written."""
    ifs = node_at(site.root, fr.claim_if.start_byte, fr.claim_if.end_byte)
    return node_text(condition_value(ifs.child_by_field_name("condition")), site.src).strip()


def _span(node) -> Span:
    return Span(start_byte=node.start_byte, end_byte=node.end_byte, start_line=node.start_point[0],
                start_col=node.start_point[1], end_line=node.end_point[0], end_col=node.end_point[1])


def _body_span(loop) -> Span:
    return _span(loop.child_by_field_name("body"))


def relaxation_candidates(site: ParsedSite, facts: LoopFacts) -> list[Candidate]:
    """``rule:relaxation-sweeps`` for ``facts.relaxation`` (see the module docstring)."""
    rx = facts.relaxation
    if rx is None:
        return []
    src = site.src
    loop = site.loop_node
    names = Names(site)
    setf = names.get("stored")
    sweep_node = node_at(site.root, rx.sweep.start_byte, rx.sweep.end_byte)
    sweep_site = build_site(site.source, site.path, site.tree, site.function_node, sweep_node, "for")
    fr = build_frame(sweep_site, analyze(sweep_site), names)
    if fr is None:
        return []

    cur, moved = names.get("own"), names.get("moved")
    own = f"{rx.labels}[{rx.vertex}]"

    def load(span: Span) -> str:  # the iteration's own element is only written by it: a local copy reads it
        text = _text(site, span)
        return cur if "".join(text.split()) == own else f"__atomic_load_n(&{text}, __ATOMIC_RELAXED)"

    value_reads = [r for r in rx.reads if rx.stored_value.start_byte <= r.start_byte < rx.stored_value.end_byte]
    value = _text(site, rx.stored_value)
    for r in sorted(value_reads, key=lambda s: s.start_byte, reverse=True):
        a, b = r.start_byte - rx.stored_value.start_byte, r.end_byte - rx.stored_value.start_byte
        value = value[:a] + load(r) + value[b:]
    edits = [(r.start_byte, r.end_byte, load(r)) for r in rx.reads if r not in value_reads]
    edits.append((rx.store.start_byte, rx.store.end_byte, f"{cur} = {value}"))
    edits.append((rx.flag_set.start_byte, rx.flag_set.end_byte, f"{moved} = true"))
    # the iteration's label is stored once, after its edges (the sweep has no early exit); the shared flag
    # is written only while unset: a store from every improving iteration moves its cache line between
    # the cores on every improvement (label_propagation lost 0.62x to the second thread that way)
    body = [f"auto {cur} = __atomic_load_n(&{own}, __ATOMIC_RELAXED);", f"bool {moved} = false;"] + span_lines(
        site, _body_span(sweep_node), edits, strip_braces=True) + [
        f"if ({moved}) {{",
        f"  __atomic_store_n(&{_text(site, rx.target)}, {cur}, __ATOMIC_RELAXED);",
        f"  if (!{setf}.load({_RELAXED})) {setf}.store(true, {_RELAXED});",
        "}"]
    cond = node_text(condition_value(loop.child_by_field_name("condition")), src).strip()
    sweep = list(fr.prologue)
    sweep += call_with_lambda(f"parlay::parallel_for({fr.start}, {fr.end}, ", lam(fr.index_param, fr.index_bind, body),
                              ");")
    sweep += fr.epilogue
    inner = span_lines(site, rx.flag_reset) + [f"std::atomic<bool> {setf}{{false}};"] + sweep + [
        f"if ({setf}.load()) {rx.flag} = true;"]
    if rx.do_while:
        lines = ["do {"] + indent(inner) + [f"}} while ({cond});"]
    else:
        lines = [f"while ({cond}) {{"] + indent(inner) + ["}"]
    return [Candidate(
        loop_text=wrap(lines), includes=[PAR, "<atomic>"], origin="rule:relaxation-sweeps",
        description=(f"each sweep a parlay::parallel_for over the vertices; `{rx.labels}` read and stored with relaxed "
                     "atomics, so labels move as in the serial sweep and end at the same fixpoint"),
        params={"granularity": 0, "form": "in-place"})]


__all__ = ["frontier_candidates", "relaxation_candidates"]
