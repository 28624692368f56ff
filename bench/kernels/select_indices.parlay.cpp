// bench: expert ParlayLib replacement of the marked loop in select_indices.cpp
// bench-includes: <parlay/primitives.h> <parlay/delayed.h>
{
  auto picked = parlay::pack_index<int>(parlay::delayed::map(a, [&](double v) { return v > threshold; }));
  out.insert(out.end(), picked.begin(), picked.end());
}
