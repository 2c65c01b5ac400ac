#include "cluster/etcd_types.hpp"

namespace weir::cluster {

std::string prefix_end(std::string_view prefix) {
    // etcd's rule: drop trailing 0xff bytes, increment the last one left; a
    // prefix of only 0xff bytes (or empty) means "to the end of the key space",
    // which etcd spells "\0".
    std::string end(prefix);
    while (!end.empty()) {
        auto& last = reinterpret_cast<unsigned char&>(end.back());
        if (last < 0xff) {
            ++last;
            return end;
        }
        end.pop_back();
    }
    return std::string(1, '\0');
}

}  // namespace weir::cluster
