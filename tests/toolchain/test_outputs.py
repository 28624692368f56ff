"""Parsing output dumps and comparing original against candidate."""

import copy
import math
import random

import pytest

from parevo.toolchain.outputs import DumpError, Leaf, DumpedSeq, Tolerance, compare, leaf_equal, parse_dump

DUMP = """case 17 2
out return
d 3.5
out out
[ 3
d 1
d 2.5
d -0
]
out pts
[ 2
{ 2
. x
f 1.5
. id
i 4
}
{ 2
. x
f -2
. id
i 7
}
]
out flags
[ 2
b 1
b 0
]
out grid
[ 2
[ 2
u 1
u 2
]
[ 1
u 3
]
]
out s
[ 2
c 97
c 98
]
end
"""


def test_parse_dump_structure():
    (case,) = parse_dump(DUMP)
    assert (case.n, case.seed, case.complete) == (17, 2, True)
    assert list(case.outputs) == ["return", "out", "pts", "flags", "grid", "s"]
    assert case.outputs["return"].value == 3.5
    assert [x.value for x in case.outputs["out"].items] == [1.0, 2.5, 0.0]
    assert case.outputs["pts"].items[1].fields["id"].value == 7
    assert case.outputs["grid"].items[1].items[0].value == 3


def test_incomplete_case_is_marked():
    text = "case 1 1\nout r\nd 1\nend\ncase 5 1\nout y\n[ 5\nd 1\n"
    cases = parse_dump(text)
    assert [c.complete for c in cases] == [True, False]
    assert (cases[1].n, cases[1].seed) == (5, 1)


def test_garbage_raises():
    with pytest.raises(DumpError):
        parse_dump("hello\n")


def _mutate(path_fn, text=DUMP):
    (e,) = parse_dump(text)
    g = copy.deepcopy(e)
    path_fn(g)
    def redump(v):  # a sequence is compared by its dumped text first: one edited here no longer has it
        if isinstance(v, DumpedSeq):
            if v._items is None:
                return
            v.lines = ["(edited in the test)"]
        for item in getattr(v, "items", None) or []:
            redump(item)
        for f in getattr(v, "fields", {}).values():
            redump(f)
    for v in g.outputs.values():
        redump(v)
    return e, g


def test_a_sequence_of_scalars_is_compared_by_its_text_and_parsed_only_when_it_differs():
    grid = "\n".join(f"d {k * 0.25!r}" for k in range(1000))
    text = f"case 1000 1\nout out\n[ 1000\n{grid}\n]\nend\n"
    (e,), (g,) = parse_dump(text), parse_dump(text)
    assert isinstance(e.outputs["out"], DumpedSeq) and e.outputs["out"].count == 1000
    assert compare(e, g) is None and e.outputs["out"]._items is None and g.outputs["out"]._items is None
    (bad,) = parse_dump(text.replace("\nd 2.5\n", "\nd 2.75\n"))
    mm = compare(e, bad)
    assert (mm.output, mm.expected, mm.got, mm.count) == ("out[10]", "2.5", "2.75", 1)
    # equal values in another text still match (the same double, another spelling)
    (other,) = parse_dump(text.replace("\nd 2.5\n", "\nd 2.50\n"))
    assert compare(e, other) is None
    # sequences of sequences and of structs too: kept as text, parsed when they differ
    (nested,) = parse_dump("case 2 1\nout g\n[ 2\n[ 1\ni 1\n]\n[ 1\ni 2\n]\n]\nend\n")
    assert isinstance(nested.outputs["g"], DumpedSeq) and nested.outputs["g"].items[1].items[0].value == 2
    structs = "\n".join(f"{{ 2\n. x\nd {k * 0.5!r}\n. id\ni {k}\n}}" for k in range(500))
    text = f"case 500 1\nout pts\n[ 500\n{structs}\n]\nend\n"
    (e,), (g,) = parse_dump(text), parse_dump(text)
    assert compare(e, g) is None and e.outputs["pts"]._items is None
    (bad,) = parse_dump(text.replace(". id\ni 7\n", ". id\ni 8\n"))
    assert compare(e, bad).output == "pts[7].id"
    # an unfinished case: the sequence is read as far as it goes
    (cut,) = parse_dump("case 3 1\nout a\n[ 3\nd 1\nd 2\n")
    assert not cut.complete and "a" not in cut.outputs


def test_identical_cases_match():
    (e,) = parse_dump(DUMP)
    assert compare(e, copy.deepcopy(e)) is None


def test_element_mismatch_names_index_expected_and_got():
    e, g = _mutate(lambda g: setattr(g.outputs["out"].items[1], "value", 4.0))
    mm = compare(e, g)
    assert mm.output == "out[1]" and mm.index == 1 and mm.name == "out"
    assert mm.expected == "2.5" and mm.got == "4"
    assert mm.describe() == "wrong output at n = 17 (seed 2): out[1] expected 2.5, got 4"


def test_struct_field_and_nested_labels():
    e, g = _mutate(lambda g: setattr(g.outputs["pts"].items[1].fields["id"], "value", 8))
    assert compare(e, g).output == "pts[1].id"
    e, g = _mutate(lambda g: setattr(g.outputs["grid"].items[1].items[0], "value", 9))
    mm = compare(e, g)
    assert mm.output == "grid[1][0]" and mm.index == 1


def test_return_value_label():
    e, g = _mutate(lambda g: setattr(g.outputs["return"], "value", 3.0))
    mm = compare(e, g)
    assert mm.output == "return value"
    assert "return value expected 3.5, got 3" in mm.describe()


def test_length_mismatch():
    e, g = _mutate(lambda g: g.outputs["out"].items.pop())
    mm = compare(e, g)
    assert mm.output == "out: length 3 vs 2"
    assert mm.describe() == "wrong output at n = 17 (seed 2): out has length 2, expected length 3"


def test_bool_and_char_display():
    e, g = _mutate(lambda g: setattr(g.outputs["flags"].items[0], "value", 0))
    mm = compare(e, g)
    assert (mm.expected, mm.got) == ("true", "false")
    e, g = _mutate(lambda g: setattr(g.outputs["s"].items[1], "value", 122))
    mm = compare(e, g)
    assert (mm.expected, mm.got) == ("'b'", "'z'")


def test_missing_output_and_incomplete_candidate():
    e, g = _mutate(lambda g: g.outputs.pop("flags"))
    mm = compare(e, g)
    assert mm.kind == "missing" and "flags" in mm.describe()
    (e,) = parse_dump(DUMP)
    g = copy.deepcopy(e)
    g.complete = False
    assert compare(e, g).kind == "missing"


def test_mismatch_count():
    def f(g):
        for x in g.outputs["out"].items:
            x.value += 1.0
    e, g = _mutate(f)
    mm = compare(e, g)
    assert mm.count == 3 and "(and 2 more values differ)" in mm.describe()


def test_integers_exact_nan_equal_inf_by_sign():
    tol = Tolerance()
    assert not leaf_equal(Leaf("i", 3, "3"), Leaf("i", 4, "4"), tol)
    assert leaf_equal(Leaf("d", math.nan, "nan"), Leaf("d", math.nan, "-nan"), tol)
    assert not leaf_equal(Leaf("d", math.nan, "nan"), Leaf("d", 1.0, "1"), tol)
    assert leaf_equal(Leaf("d", math.inf, "inf"), Leaf("d", math.inf, "inf"), tol)
    assert not leaf_equal(Leaf("d", math.inf, "inf"), Leaf("d", -math.inf, "-inf"), tol)


def _sum_serial(xs):
    s = 0.0
    for x in xs:
        s += x
    return s


def _sum_pairwise(xs):
    if len(xs) <= 8:
        return _sum_serial(xs)
    h = len(xs) // 2
    return _sum_pairwise(xs[:h]) + _sum_pairwise(xs[h:])


def _sum_blocked(xs, b=1024):
    return _sum_serial([_sum_serial(xs[k:k + b]) for k in range(0, len(xs), b)])


@pytest.mark.parametrize("lo", [-1.0, 0.0])
def test_double_tolerance_accepts_reassociated_sums_and_rejects_a_missing_element(lo):
    rng = random.Random(7)
    tol = Tolerance()
    for n in (1000, 100_000):
        xs = [rng.uniform(lo, 1.0) for _ in range(n)]
        ser = _sum_serial(xs)
        for other in (_sum_pairwise(xs), _sum_blocked(xs)):
            assert leaf_equal(Leaf("d", ser, ""), Leaf("d", other, ""), tol)
        missing = _sum_serial(xs[:-1])
        if abs(xs[-1]) > 1e-6:
            assert not leaf_equal(Leaf("d", ser, ""), Leaf("d", missing, ""), tol)


def test_double_tolerance_rejects_off_by_one_in_a_map():
    tol = Tolerance()
    rng = random.Random(3)
    xs = [rng.uniform(-1, 1) for _ in range(100)]
    wrong = [a != b for a, b in zip(xs, xs[1:])]
    assert all(not leaf_equal(Leaf("d", a, ""), Leaf("d", b, ""), tol) for a, b, w in zip(xs, xs[1:], wrong) if w)


def test_float_tolerance_is_per_precision():
    tol = Tolerance()
    # 5e-5 relative: fine for float, not for double
    assert leaf_equal(Leaf("f", 1000.0, ""), Leaf("f", 1000.05, ""), tol)
    assert not leaf_equal(Leaf("d", 1000.0, ""), Leaf("d", 1000.05, ""), tol)
    assert not leaf_equal(Leaf("f", 10.0, ""), Leaf("f", 10.5, ""), tol)


def test_adversarial_cases_carry_their_class_in_the_seed_and_the_dump():
    from parevo.toolchain.adversarial import CLASSES, ClassCheck, case_label, case_seed, describe_classes, split_seed

    nan = next(c for c in CLASSES if c.name == "nan")
    seed = case_seed(2, nan.id)
    assert split_seed(seed) == (2, nan) and split_seed(2) == (2, None)
    assert case_label(17, seed) == "n = 17 (seed 2, NaN)" and case_label(17, 2) == "n = 17 (seed 2)"
    [case] = parse_dump(f"case 17 {seed}\nadversarial 3\nout return\nd nan\nend\n")
    assert case.adversarial == 3 and case.complete and case.seed == seed
    mm = compare(case, parse_dump(f"case 17 {seed}\nout return\nd 1\nend\n")[0])
    assert mm is not None and mm.describe().startswith("wrong output at n = 17 (seed 2, NaN): return value")
    text = describe_classes([ClassCheck(name="nan", label="NaN", status="tested"),
                             ClassCheck(name="int-extremes", label="INT_MIN/INT_MAX", status="undefined behaviour",
                                        detail="in the original: x.cpp:9: signed integer overflow"),
                             ClassCheck(name="one-bucket", label="one bucket", status="not applicable")])
    assert text == ("adversarial values: NaN; INT_MIN/INT_MAX not held against the rewrite (in the original: "
                    "x.cpp:9: signed integer overflow); not applicable: one bucket")
