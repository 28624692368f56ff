// Sort: insertion sort of integer keys in place (quadratic; the rewrite is a parallel sort).
#include <cstdio>
#include <vector>

void insertion_sort(std::vector<int>& a) {
  // parevo: select the loop below
  for (size_t i = 1; i < a.size(); ++i) {
    int key = a[i];
    size_t j = i;
    while (j > 0 && a[j - 1] > key) {
      a[j] = a[j - 1];
      --j;
    }
    a[j] = key;
  }
}

int main() {
  std::vector<int> a(1 << 14);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<int>((i * 2654435761u) % 100003);
  insertion_sort(a);
  std::printf("%d %d %d\n", a.front(), a[a.size() / 2], a.back());
  return 0;
}
