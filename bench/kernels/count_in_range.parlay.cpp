// bench: expert ParlayLib replacement of the marked loop in count_in_range.cpp
// bench-includes: <parlay/primitives.h>
count += static_cast<long>(parlay::count_if(a, [&](int v) { return v >= lo && v < hi; }));
