// Work per request head under hostile shapes, the resumable head search and
// the one-pass Connection reading against the algorithms they replaced:
//
//   trickle     a 64 KiB head of short lines arriving one byte per read
//               (each read searches the buffer for the end of the head)
//   connection  a Connection field of 31 000 tokens next to 120 fields
//               (each field looked up among the tokens)
//
// Prints a Markdown table (also to the file given as the first argument).
#include "http/connection_field.hpp"
#include "http/message.hpp"
#include "http/parser.hpp"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

using namespace weir::http;
using Clock = std::chrono::steady_clock;

namespace {

double millis(const std::function<void()>& f, int repeat) {
    auto t0 = Clock::now();
    for (int i = 0; i < repeat; ++i) f();
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / repeat;
}

// A head of `bytes` made of short "a:b" lines: the most line ends per byte.
std::string short_line_head(std::size_t bytes) {
    std::string h = "GET / HTTP/1.1\r\nHost: h\r\n";
    while (h.size() + 8 < bytes) h += "a:b\r\n";
    return h + "\r\n";
}

// Feeds `head` one byte more per call, as a connection delivering one byte per read would.
std::size_t trickle(const std::string& head, bool resume) {
    HeadScan scan;
    RequestHead out;
    std::size_t len = 0;
    ParseError err;
    std::size_t calls = 0;
    for (std::size_t have = 1; have <= head.size(); ++have, ++calls) {
        ParseStatus st = parse_request_head(std::string_view(head).substr(0, have), 1 << 20, out, len, err,
                                            resume ? &scan : nullptr);
        if (st != ParseStatus::incomplete) break;
    }
    return calls;
}

// The replaced way: for each field, tokenize every Connection value again.
bool named_pairwise(std::string_view name, const std::vector<Header>& headers) {
    for (const Header& h : headers) {
        if (!iequals(h.name, "connection")) continue;
        std::string_view v = h.value;
        while (!v.empty()) {
            std::size_t comma = v.find(',');
            std::string_view tok = v.substr(0, comma);
            while (!tok.empty() && tok.front() == ' ') tok.remove_prefix(1);
            while (!tok.empty() && tok.back() == ' ') tok.remove_suffix(1);
            if (iequals(tok, name)) return true;
            if (comma == std::string_view::npos) break;
            v.remove_prefix(comma + 1);
        }
    }
    return false;
}

std::vector<Header> connection_case(const std::string& conn, std::vector<std::string>& names) {
    std::vector<Header> hs = {{"Connection", conn}};
    for (const std::string& n : names) hs.push_back({n, "v"});
    return hs;
}

}  // namespace

int main(int argc, char** argv) {
    std::ostringstream out;
    out << "| case | size | replaced algorithm (ms) | now (ms) | ratio |\n|---|---|---|---|---|\n";
    auto row = [&](const std::string& c, const std::string& size, double old_ms, double new_ms) {
        char line[256];
        std::snprintf(line, sizeof line, "| %s | %s | %.3f | %.3f | %.0fx |\n", c.c_str(), size.c_str(), old_ms,
                      new_ms, new_ms > 0 ? old_ms / new_ms : 0.0);
        out << line;
    };

    for (std::size_t kib : {8, 64}) {
        const std::string head = short_line_head(kib * 1024);
        double old_ms = millis([&] { trickle(head, false); }, 1);
        double new_ms = millis([&] { trickle(head, true); }, 3);
        row("head arriving 1 byte per read", std::to_string(kib) + " KiB", old_ms, new_ms);
    }

    for (int tokens : {1000, 31000}) {
        std::string conn;
        for (int i = 0; i < tokens; ++i) conn += (i ? ", x-t" : "x-t") + std::to_string(i);
        std::vector<std::string> names;
        for (int i = 0; i < 120; ++i) names.push_back("X-F" + std::to_string(i));  // named by no token: a full scan each
        std::size_t sink = 0;
        double old_ms = millis(
            [&] {
                auto hs = connection_case(conn, names);
                for (const Header& h : hs) sink += named_pairwise(h.name, hs);
            },
            3);
        double new_ms = millis(
            [&] {
                auto hs = connection_case(conn, names);
                sink += read_connection(hs).names_fields;
            },
            3);
        row("Connection tokens vs 120 fields", std::to_string(tokens) + " tokens", old_ms, new_ms);
        if (sink == 42) std::cerr << "";  // keeps the work observable
    }

    std::cout << out.str();
    if (argc > 1) std::ofstream(argv[1]) << "# Head work under hostile shapes\n\nMeasured by `"
                                         << "build/weir_head_work_bench` (`make bench`).\n\n"
                                         << out.str();
    return 0;
}
