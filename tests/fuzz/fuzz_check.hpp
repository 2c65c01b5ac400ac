// CHECK for the fuzz targets: an invariant that fails aborts, so libFuzzer
// and the corpus replay (a plain build, NDEBUG set) both report it.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace weir::fuzz {

[[noreturn]] inline void check_failed(const char* what, const char* file, int line) {
    std::fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, what);
    std::abort();
}

}  // namespace weir::fuzz

#define FUZZ_CHECK(cond)                                                    \
    do {                                                                    \
        if (!(cond)) ::weir::fuzz::check_failed(#cond, __FILE__, __LINE__); \
    } while (0)
