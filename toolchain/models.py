"""Data models that cross module boundaries inside the toolchain and up to the
evolution and server layers: spans, the loop facts, and the errors a user sees.
The parsed site and its declarations are in :mod:`parevo.toolchain.site`.

Conventions used everywhere in parevo:

* Lines and columns are **0-based** (as in tree-sitter and LSP); text shown to a
  user converts to 1-based lines at the last moment (``Span.line1``).
* Byte offsets index the UTF-8 encoded file text.
* Times are in **seconds** (float), sizes in **bytes**, thread counts in threads.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

from pydantic import BaseModel, Field


class ParevoError(Exception):
    """Base class of every error parevo reports to a user.

    The message is written for the user: it says what is wrong and, where there
    is one, what to do about it.
    """


class ParseFailure(ParevoError):
    """The file does not parse near the selection (tree-sitter ERROR nodes)."""


class NoLoopFound(ParevoError):
    """No ``for``/range-``for``/``while``/``do`` loop at the selected line or range."""


class NotInFunction(ParevoError):
    """The selected loop is not inside a function definition."""


class HarnessError(ParevoError):
    """The harness cannot build inputs for a parameter (names it and the fix)."""


class ToolchainMissing(ParevoError):
    """A required tool (C++ compiler, ParlayLib, ThreadSanitizer) is missing."""


class Span(BaseModel):
    """A region of a source file: byte offsets and 0-based (line, column) points."""

    start_byte: int
    end_byte: int
    start_line: int
    start_col: int
    end_line: int
    end_col: int

    @property
    def line1(self) -> int:
        """1-based first line, for messages shown to a user."""
        return self.start_line + 1


class ReductionOp(str, Enum):
    """Associative operators a scalar can be reduced with (each is a monoid)."""

    ADD = "+"
    MUL = "*"
    MIN = "min"
    MAX = "max"
    AND = "&&"
    OR = "||"
    BIT_AND = "&"
    BIT_OR = "|"
    BIT_XOR = "^"
    COUNT = "count"


class Reduction(BaseModel):
    """A scalar updated in every iteration with an associative operator.

    ``expr`` is the operand contributed by one iteration (``a[i]*a[i]`` for
    ``s += a[i]*a[i]``; ``1`` for a count). ``update`` is the span of the whole
    update statement inside the file, so a rewrite can replace it.
    ``conditional`` is True when the update is guarded by an ``if``; ``filter`` is then the
    condition under which an iteration contributes ``expr`` (it contributes the monoid's identity
    otherwise; a min/max's own improvement test ``e < s`` is not part of it).
    """

    var: str
    var_type: str
    op: ReductionOp
    expr: str
    filter: str | None = None
    update: Span
    conditional: bool = False
    in_inner_loop: bool = False
    line: int


class ArgExtreme(BaseModel):
    """An argmin/argmax: ``if (E < best) { best = E; idx = i; }``.

    ``strict`` is True for ``<``/``>`` (first index wins ties), False for
    ``<=``/``>=`` (last index wins). ``index_expr`` is what the loop stores
    in ``index_var`` when it is not the bare index (``static_cast<long>(i)``);
    ``prelude`` the body's declarations ``expr`` needs (``double d = …;``). ``filter`` is the
    condition an iteration must meet to take part (``p(x[i])`` of ``if (p(x[i]) && x[i] < best)``,
    and the ``if`` guards around it), None when every iteration takes part.
    """

    kind: Literal["min", "max"]
    value_var: str
    index_var: str | None
    index_expr: str | None = None
    expr: str
    prelude: list[str] = Field(default_factory=list)
    strict: bool
    filter: str | None = None
    update: Span | None = None
    line: int


class Access(BaseModel):
    """An array access in the loop body: ``array[index]`` with how it is used."""

    array: str
    index: str
    kind: Literal["read", "write", "update"]
    op: str = "="
    value: str | None = None
    line: int
    span: Span | None = None


class Push(BaseModel):
    """``container.push_back(value)`` (or ``emplace_back``) in the loop body."""

    container: str
    value: str
    conditional: bool
    condition: str | None = None
    line: int
    span: Span | None = None


class PackedWrite(BaseModel):
    """A write at the loop index into storage that packs 64 elements into one word.

    ``kind``: ``vector<bool>`` or ``bitset`` (``std::bitset``); both store bits in 64-bit words
    (libstdc++ ``_Bit_type`` and ``_WordT`` are ``unsigned long``). Iterations writing
    neighbouring elements from different workers race on the shared word (a read-modify-write
    of the whole word) unless every worker's range starts and ends on a word boundary; rewrites
    split such a loop only into blocks of a multiple of 64 iterations starting at an element
    index that is a multiple of 64, or compute into a byte-per-element temporary and copy it
    back by whole words (:mod:`parevo.evolution.rules_packed`).

    ``offset`` is k for a write at ``i + k`` (0 for the loop index or the range-for element),
    ``None`` for a row-major write ``a[i * W + j]`` (row ``i``'s elements, W per row).
    ``span`` is the element expression (``out[i]``) of a subscript write, ``None`` for a
    member call (``bs.set(i)``, ``out[i].flip()``).
    """

    array: str
    kind: Literal["vector<bool>", "bitset"]
    offset: int | None = 0
    line: int
    span: Span | None = None


class EarlyExit(BaseModel):
    """A ``break``, ``return`` or ``goto`` that leaves the loop early."""

    kind: Literal["break", "return", "goto"]
    value: str | None = None
    condition: str | None = None
    line: int
    span: Span | None = None


class Call(BaseModel):
    """A function call in the loop body; ``pure`` for known side-effect-free math."""

    name: str
    line: int
    pure: bool


class Dependence(BaseModel):
    """A loop-carried dependence: iteration i reads what an earlier one wrote.

    ``write_line`` and ``read_line`` are 0-based lines of the two accesses;
    ``description`` is the user-facing sentence.
    """

    var: str
    write_line: int
    read_line: int
    distance: int | None = None
    description: str


class Scan(BaseModel):
    """A prefix sum (scan) carried by the loop.

    Two shapes: a scalar accumulator copied out at the loop index
    (``acc += a[i]; out[i] = acc;`` is ``inclusive``, ``out[i] = acc; acc +=
    a[i];`` is ``exclusive``; ``acc`` names the scalar; ``output`` is None when
    ``acc`` is read in other ways, e.g. ``b[i] = acc * 2``), or the output's own
    previous element (``out[i] = out[i-1] + a[i]``: ``carried`` is the text
    ``out[i - 1]``, ``acc`` is None; ``target`` the written element's text,
    ``out[i]``, or ``off[i + 1]`` in ``off[i + 1] = off[i] + deg[i]``).
    ``in_place`` marks ``a[i] += a[i-1]``, where ``expr`` is the element's own
    old value. ``op`` is the monoid.
    """

    kind: Literal["inclusive", "exclusive"]
    op: ReductionOp
    expr: str
    output: str | None = None
    acc: str | None = None
    acc_type: str | None = None
    carried: str | None = None
    target: str | None = None
    in_place: bool = False
    line: int


class Search(BaseModel):
    """A first-match search: ``if (condition) { action }`` leaving the loop.

    ``kind`` is how it leaves (``return`` or ``break``); ``prefix`` is the text
    of the declarations that precede the ``if`` in the body (the condition may
    use them); ``action`` is the text of the if-block's statements without a
    final ``break;`` (a ``return v;`` is kept); ``value`` is the returned
    expression, if any.
    """

    kind: Literal["return", "break"]
    condition: str
    prefix: str = ""
    action: str = ""
    value: str | None = None
    line: int


class InnerLoop(BaseModel):
    """A loop inside a sequential selected loop whose own iterations are independent: its span, pattern,
    0-based first line and index (or range) variable."""

    span: Span
    pattern: str
    line: int
    index_var: str | None = None


class AlgorithmCall(BaseModel):
    """A selected standard-algorithm call (``std::accumulate(first, last, init)``): its name, the call's span,
    its arguments' spans in order, the monoid (``+``/``*``) of a reduction or scan, and the element type when
    the declarations tell it."""

    name: str
    call: Span
    args: list[Span]
    op: str | None = None
    element_type: str | None = None


class SortIdiom(BaseModel):
    """An insertion sort of ``array[0..count)`` (:mod:`parevo.toolchain.facts_sort`): ascending by ``<`` (or
    ``descending``), of the elements or of their ``field`` (dotted path), stably. ``index_var`` is the outer
    loop's index (``index_declared_outside``: its final value ``count`` is visible after the loop);
    ``value_type`` the elements' type as written."""

    array: str
    count: str
    lower: str = "0"
    field: str | None = None
    descending: bool = False
    index_var: str
    index_declared_outside: bool = False
    value_type: str = ""


class IndexAlias(BaseModel):
    """An index alias of a normalized loop: the body local ``name`` (of type ``type``) equals
    ``base + coef * k`` in iteration ``k`` (``base`` is C++ text, loop-invariant); ``decl`` is the span of
    its declaration, the first statement of the normalized body (a rewrite binds the alias itself)."""

    name: str
    type: str
    base: str
    coef: int
    decl: Span | None = None


class RecordVar(BaseModel):
    """A local of the loop over the frontier that a claimed vertex's block reads: its name and the
    type of a copy (``int``, or ``decltype`` text for the frontier's element)."""

    name: str
    type: str


class CsrEdges(BaseModel):
    """The level loop's body is one loop over the frontier vertex's edges of a CSR graph (see ``Frontier.edges``):
    ``for (T e = LO; e < HI; ++e) { T2 v = ADJ[e]; if (cond) { … } }`` with nothing else in it. ``index`` is ``e``
    (``index_type`` its type as written), ``adjacency`` ``ADJ`` (a std::vector or std::array the loop does not
    write), ``lower``/``upper`` the spans of ``LO``/``HI`` (they read the frontier vertex and data the loop does not
    write only); ``e`` is used only in ``ADJ[e]``, so the pairs the level visits are the slices
    ``ADJ[LO(u) .. HI(u))`` of the frontier's vertices in order."""

    index: str
    index_type: str
    adjacency: str
    lower: Span
    upper: Span
    loop: Span


class Frontier(BaseModel):
    """A frontier loop (:mod:`parevo.toolchain.facts_graph`). Spans index the site's text.

    ``frontier``/``next`` name the two containers; ``level_loop`` is the loop over the
    frontier, ``vertex`` its element variable (``u``) and ``vertex_decl`` how it is declared
    (``int u`` of ``for (int u : frontier)`` or of ``int u = frontier[k];`` in an indexed loop,
    whose index ``index`` names; None when its type is not written); ``claim_if`` the ``if`` whose block pushes
    ``pushed`` (``v``) onto ``next``, ``claim_block`` that block, ``push`` the push statement;
    ``written`` the arrays the block writes at ``[v]`` (``domain`` the first of them with a
    size: the vertex range); ``record`` the frontier loop's locals the block or the
    condition read, in declaration order. ``vertex_reads`` are the ``X[u]`` the block reads when
    it reads the frontier vertex only through them (and no other local of the loop but ``v``):
    when they are equal over a level's frontier, which candidate claims a vertex does not change
    what the block writes. ``next_is_local`` marks ``next`` declared in the body (its order is
    seen by nothing after a level). ``edges`` is the CSR shape of the level loop's body
    (:class:`CsrEdges`), None when it has another. ``own_condition`` lists the arrays the claiming
    ``if``'s condition reads when it depends on the claimed vertex's own state only: every array it
    reads is a std::vector or std::array read at ``[v]``, it dereferences nothing, and nothing the
    ``while`` loop writes or declares is read by it but the claiming block's ``A[v]`` (the loop's
    other statements call only pure functions and methods of the two containers); then a vertex's
    condition changes only when its own block runs, and a flag per vertex set once from the condition
    before the loop stays equal to it. None otherwise (also when the block writes a ``std::vector<bool>``,
    whose elements share words). ``uniform_reads`` marks a block that writes every array it reads at
    ``[u]`` only as ``X[v] = E;`` at its top level, ``E`` reading only those ``Y[u]``, literals and
    operators (``dist[v] = dist[u] + 1;``): over a frontier whose reads are equal, every vertex it claims
    ends with equal reads, so the next frontier's reads are equal too and, with ``next`` local, the order
    of its vertices changes nothing the loop computes.
    """

    frontier: str
    next: str
    level_loop: Span
    vertex: str
    vertex_decl: str | None = None
    index: str | None = None
    index_type: str | None = None
    claim_if: Span
    claim_block: Span
    push: Span
    pushed: str
    written: list[str]
    domain: str
    record: list[RecordVar] = Field(default_factory=list)
    vertex_reads: list[str] | None = None
    next_is_local: bool = False
    edges: CsrEdges | None = None
    own_condition: list[str] | None = None
    uniform_reads: bool = False


class Relaxation(BaseModel):
    """A relaxation loop (see the module docstring).

    ``flag`` is the "changed" variable; ``flag_reset`` the ``flag = false;`` statement at the
    start of each sweep; ``sweep`` the ``for`` loop over the vertices (its index ``vertex``);
    ``labels`` the array relaxed (``kind`` ``min`` for ``label[u] < label[v]``, ``max`` for
    ``>``); ``update_if`` the guarding ``if``, ``store`` the assignment ``label[v] = label[u]``,
    ``flag_set`` the ``flag = true`` assignment, ``reads`` every read of ``labels`` (the
    condition's two and the stored value), ``do_while`` for the ``do … while`` form.
    """

    flag: str
    flag_reset: Span
    sweep: Span
    vertex: str
    labels: str
    kind: Literal["min", "max"]
    update_if: Span
    store: Span
    stored_value: Span
    target: Span
    flag_set: Span
    reads: list[Span] = Field(default_factory=list)
    do_while: bool = False


Pattern = Literal[
    "map",
    "reduction",
    "argminmax",
    "histogram",
    "scan",
    "filter",
    "search",
    "nest",
    "frontier",
    "relaxation",
    "inner",
    "sort",
    "sequential",
    "unknown",
]


class LoopFacts(BaseModel):
    """What the loop reads and writes, and the pattern that follows.

    Produced by ``parevo.toolchain.facts.analyze``. For a counted ``for`` loop
    ``index_var``/``lower``/``upper`` give ``for (index_var = lower;
    index_var < upper; ++index_var)`` (``upper`` exclusive; ``<=`` bounds are
    rewritten to ``(B) + 1``). For a range-``for``, ``range_expr`` is the
    container and ``range_var`` the element variable.
    ``reason`` explains, for a user, why the loop cannot be parallelized as it
    stands; ``reason_lines`` are the 0-based lines involved.

    ``scan`` and ``search`` describe a prefix-sum and a first-match loop.
    ``packed_writes`` are the writes at the index into packed storage
    (``std::vector<bool>``, ``std::bitset``; :class:`PackedWrite`). A bit-field of an element
    is not packed storage across iterations: distinct objects are distinct memory locations
    (C++ [intro.memory]/3), and a bit-field of an object all iterations share is already a write
    to a shared object.
    ``private_scalars`` are scalars declared before the loop that every
    iteration assigns before reading and that are not used after it (a rewrite
    gives each iteration its own copy); ``body_locals`` are the names declared
    inside the body (private by construction); ``continues`` are the spans of
    the body's own ``continue`` statements (not those of inner loops);
    ``index_declared_outside`` marks ``int i; for (i = 0; …)``, whose final
    value is visible after the loop. ``index_type`` is the index's type as
    written (``decltype(…)`` when it is ``auto`` or unknown), ``index_unsigned``
    True when that type is an unsigned integer.
    """

    index_var: str | None = None
    index_type: str | None = None
    index_unsigned: bool = False
    lower: str | None = None
    upper: str | None = None
    step: int | None = None
    range_var: str | None = None
    range_var_type: str | None = None
    range_expr: str | None = None
    body: Span | None = None
    body_text: str = ""
    reductions: list[Reduction] = Field(default_factory=list)
    argextremes: list[ArgExtreme] = Field(default_factory=list)
    writes_at_index: list[Access] = Field(default_factory=list)
    packed_writes: list[PackedWrite] = Field(default_factory=list)
    writes_computed: list[Access] = Field(default_factory=list)
    reads: list[Access] = Field(default_factory=list)
    pushes: list[Push] = Field(default_factory=list)
    early_exits: list[EarlyExit] = Field(default_factory=list)
    calls: list[Call] = Field(default_factory=list)
    dependences: list[Dependence] = Field(default_factory=list)
    scalars_written: list[str] = Field(default_factory=list)
    inner_loops: int = 0
    scan: Scan | None = None
    search: Search | None = None
    frontier: Frontier | None = None
    relaxation: Relaxation | None = None
    normalized: str | None = None
    aliases: list[IndexAlias] = Field(default_factory=list)
    inner_parallel: list[InnerLoop] = Field(default_factory=list)
    sequential_outer: str | None = None
    algorithm: AlgorithmCall | None = None
    sort: SortIdiom | None = None
    private_scalars: list[str] = Field(default_factory=list)
    body_locals: list[str] = Field(default_factory=list)
    continues: list[Span] = Field(default_factory=list)
    index_declared_outside: bool = False
    pattern: Pattern = "unknown"
    parallelizable: bool = False
    already_parallel: bool = False
    reason: str | None = None
    reason_lines: list[int] = Field(default_factory=list)
