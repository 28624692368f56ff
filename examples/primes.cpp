// Mark the primes below n in a std::vector<bool> by trial division.
// vector<bool> packs 64 flags per word: parallel iterations may only write
// it in blocks that start and end on word boundaries.
#include <cstdio>
#include <vector>

void mark_primes(std::vector<bool>& is_prime) {
  // parevo: select the loop below
  for (size_t i = 0; i < is_prime.size(); ++i) {
    bool prime = i >= 2;
    for (size_t d = 2; d * d <= i; ++d) {
      if (i % d == 0) {
        prime = false;
        break;
      }
    }
    is_prime[i] = prime;
  }
}

int main() {
  std::vector<bool> is_prime(1 << 18);
  mark_primes(is_prime);
  long count = 0, last = 0;
  for (size_t i = 0; i < is_prime.size(); ++i) {
    if (is_prime[i]) {
      ++count;
      last = static_cast<long>(i);
    }
  }
  std::printf("%ld primes below %zu, the largest %ld\n", count, is_prime.size(), last);
  return 0;
}
