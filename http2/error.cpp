#include "http2/error.hpp"

#include <string>

namespace weir::http2 {
namespace {

class Category final : public std::error_category {
public:
    const char* name() const noexcept override { return "http2"; }
    std::string message(int e) const override {
        switch (static_cast<Error>(e)) {
            case Error::bad_preface: return "bad HTTP/2 connection preface";
            case Error::protocol: return "HTTP/2 protocol error";
            case Error::enhance_your_calm: return "HTTP/2 peer exceeded an abuse bound";
            case Error::internal: return "HTTP/2 internal error";
            case Error::no_stream: return "no new HTTP/2 stream available on this connection";
        }
        return "unknown HTTP/2 error";
    }
};

}  // namespace

const std::error_category& error_category() {
    static const Category c;
    return c;
}

}  // namespace weir::http2
