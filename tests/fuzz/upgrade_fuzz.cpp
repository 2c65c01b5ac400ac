// libFuzzer target for protocol upgrades (http/upgrade, and the parser and
// serialisers around them). The input is a request head, then a response
// head, cut at the first NUL byte; the byte after it picks the route's list.
// Beyond memory safety it checks:
//  - only an HTTP/1.1 request with Connection: upgrade asks, and an offer
//    only ever holds well-formed protocols the route allows;
//  - the request Weir sends upstream parses again, and asks for exactly the
//    offer (nothing the client sent in its own Upgrade or Connection leaks);
//  - a 101 check_switch accepts names only offered protocols, declares no
//    body, and the 101 Weir sends on parses again and is accepted again.
#include "fuzz_check.hpp"
#include "http/list_field.hpp"
#include "http/parser.hpp"
#include "http/serialize.hpp"
#include "http/upgrade.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace weir::http;

namespace {

const std::vector<std::string>& allowed_for(unsigned char pick) {
    static const std::vector<std::string> lists[] = {{"websocket"}, {}, {"websocket", "h2c"}, {"h2c"}};
    return lists[pick % 4];
}

bool allowed_name(std::string_view protocol, const std::vector<std::string>& allowed) {
    const std::string_view name = protocol.substr(0, protocol.find('/'));
    for (const auto& a : allowed)
        if (iequals(a, name)) return true;
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t cut = input.find('\0');
    const std::string_view request_bytes = input.substr(0, cut);
    const std::string_view rest = cut == std::string_view::npos ? std::string_view() : input.substr(cut + 1);
    const std::vector<std::string>& allowed = allowed_for(rest.empty() ? 0 : static_cast<unsigned char>(rest[0]));
    const std::string_view response_bytes = rest.empty() ? rest : rest.substr(1);

    RequestHead req;
    std::size_t len = 0;
    ParseError err;
    if (parse_request_head(request_bytes, 8192, req, len, err) != ParseStatus::complete) return 0;
    if (!req.upgrade.empty()) FUZZ_CHECK(req.version_minor == 1);

    const std::string offer = upgrade_offer(req.upgrade, allowed);
    for_each_list_item(offer, [&](std::string_view p) {
        FUZZ_CHECK(valid_upgrade_protocol(p));
        FUZZ_CHECK(allowed_name(p, allowed));
    });

    // Weir adds up to 9 fields of its own (Via, X-Forwarded-*, Connection,
    // Upgrade): a head at the field limit cannot be re-read by the same limit.
    if (req.headers.size() + 9 > max_header_count) return 0;
    ForwardedFor fwd{"192.0.2.1", "http", "fuzz.example"};
    fwd.upgrade = offer;
    std::string upstream;
    serialize_request(upstream, req, fwd);
    RequestHead sent;
    std::size_t sent_len = 0;
    FUZZ_CHECK(parse_request_head(upstream, upstream.size() + 1, sent, sent_len, err) == ParseStatus::complete);
    FUZZ_CHECK(sent_len == upstream.size());
    FUZZ_CHECK(sent.upgrade == std::string_view(offer));

    if (offer.empty() || response_bytes.empty()) return 0;
    ResponseHead resp;
    if (parse_response_head(response_bytes, 8192, Method::get, resp, len, err) != ParseStatus::complete) return 0;
    if (resp.status != 101 || !check_switch(resp, offer).empty()) return 0;
    FUZZ_CHECK(resp.upgrade_fields == 1 && !resp.declares_body);
    for_each_list_item(resp.upgrade, [&](std::string_view p) { FUZZ_CHECK(allowed_name(p, allowed)); });

    // The 101 sent on carries Connection and Upgrade of Weir's own.
    if (resp.headers.size() + 2 > max_header_count) return 0;
    std::string down;
    serialize_response(down, resp, ClientFraming::as_upstream, true, 1);
    ResponseHead again;
    std::size_t again_len = 0;
    FUZZ_CHECK(parse_response_head(down, down.size() + 1, Method::get, again, again_len, err) == ParseStatus::complete);
    FUZZ_CHECK(again_len == down.size());
    FUZZ_CHECK(again.status == 101);
    FUZZ_CHECK(check_switch(again, offer).empty());
    return 0;
}
