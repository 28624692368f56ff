// bench: expert ParlayLib replacement of the marked loop in find_key.cpp
// bench-includes: <parlay/primitives.h>
{
  // parlay::find searches blocks of doubling size: O(position) work, like the serial loop
  auto it = parlay::find(a, key);
  if (it != a.end()) return static_cast<long>(it - a.begin());
}
