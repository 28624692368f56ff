// bench: ParlayLib version of the marked loop in logistic_map.cpp: kept serial. The loop is inherently
// sequential (each iteration needs the previous one's result), so an expert leaves it as it is.
// bench-serial: true
for (size_t i = 0; i < traj.size(); ++i) {
  x = r * x * (1.0 - x);
  traj[i] = x;
}
