// bench: expert ParlayLib replacement of the marked loop in insertion_sort.cpp
// bench-includes: <parlay/primitives.h>
parlay::sort_inplace(a);
