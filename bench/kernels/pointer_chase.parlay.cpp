// bench: ParlayLib version of the marked loop in pointer_chase.cpp: kept serial. The loop is inherently
// sequential (each iteration needs the previous one's result), so an expert leaves it as it is.
// bench-serial: true
for (int s = 0; s < steps; ++s) {
  total += weight[at];
  at = next[at];
}
