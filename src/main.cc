// kgw: the Kafka gateway executable.
#include <cstdio>
#include <cstring>

#include "kgw_version.h"

namespace {

constexpr const char* kUsage =
    "Usage: kgw [options]\n"
    "\n"
    "A Kafka wire-protocol compatible broker.\n"
    "\n"
    "Options:\n"
    "  --help       print this help and exit\n"
    "  --version    print the version and exit\n";

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (std::strcmp(argv[i], "--version") == 0) {
      std::printf("kgw %s\n", KGW_VERSION);
      return 0;
    }
    std::fprintf(stderr, "kgw: unknown option '%s' (see kgw --help)\n", argv[i]);
    return 2;
  }
  std::fputs("kgw: the server is not built yet; see kgw --help\n", stderr);
  return 1;
}
