// weir: run / check / demo / version (see README, Commands).
#include "app/demo_backend.hpp"
#include "common/log.hpp"
#include "config/config.hpp"
#include "app/runtime.hpp"

#include <fmt/core.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#ifndef WEIR_VERSION
#define WEIR_VERSION "dev"
#endif

namespace {

using namespace weir;

void usage(FILE* to) {
    std::fputs(
        "usage:\n"
        "  weir                 run the built-in demo (same as `weir demo`)\n"
        "  weir demo            two demo backends behind the proxy on 127.0.0.1:8080, split 90/10\n"
        "  weir run [-c FILE] [-w N]   serve with FILE (default ./weir.yaml); -w overrides workers\n"
        "  weir check [-c FILE] validate FILE; prints FILE:LINE:COL: message per error\n"
        "  weir version\n",
        to);
}

struct Args {
    std::string command = "demo";
    std::string config = "weir.yaml";
    unsigned workers = 0;
    bool ok = true;
};

Args parse_args(int argc, char** argv) {
    Args a;
    int i = 1;
    bool named = false;
    if (i < argc && argv[i][0] != '-') {
        a.command = argv[i++];
        named = true;
    }
    for (; i < argc; ++i) {
        std::string arg = argv[i];
        if ((arg == "-c" || arg == "--config") && i + 1 < argc) {
            a.config = argv[++i];
        } else if ((arg == "-w" || arg == "--workers") && i + 1 < argc) {
            char* end = nullptr;
            long n = std::strtol(argv[++i], &end, 10);
            if (*end != '\0' || n < 1 || n > 256) {
                std::fprintf(stderr, "weir: -w takes a number from 1 to 256\n");
                a.ok = false;
            }
            a.workers = static_cast<unsigned>(n);
        } else if (arg == "-h" || arg == "--help") {
            a.command = "help";
        } else {
            std::fprintf(stderr, "weir: unknown argument '%s'\n", arg.c_str());
            a.ok = false;
        }
    }
    // `weir -c FILE` means run, not the demo with an option it ignores.
    if (!named && argc > 1 && a.command == "demo" && a.ok) a.command = "run";
    return a;
}

int print_errors(const config::LoadResult& r) {
    for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.text().c_str());
    return r.errors.empty() ? 0 : 1;
}

int cmd_check(const Args& a) {
    auto r = config::load_config_file(a.config);
    if (print_errors(r) != 0) return 1;
    std::printf("%s: ok\n", a.config.c_str());
    return 0;
}

int cmd_run(const Args& a) {
    auto r = config::load_config_file(a.config);
    if (print_errors(r) != 0) return 1;
    app::RunOptions opts;
    opts.config_path = a.config;
    opts.workers = a.workers;
    return app::serve(std::move(*r.config), opts);
}

int cmd_demo(const Args& a) {
    app::DemoBackend stable("stable");
    app::DemoBackend canary("canary");
    std::string yaml = fmt::format(R"(
workers: 2
drain_timeout: 5s
listeners:
  - {{name: public, address: "127.0.0.1:8080"}}
admin: {{address: "127.0.0.1:9901"}}
pools:
  - name: stable
    endpoints: [{{address: "127.0.0.1:{}"}}]
  - name: canary
    endpoints: [{{address: "127.0.0.1:{}"}}]
routes:
  - name: web
    match: {{host: "*", path_prefix: /}}
    split: {{stable: 90, canary: 10}}
)",
                                   stable.port(), canary.port());
    auto r = config::load_config_text(yaml, "<demo>");
    if (print_errors(r) != 0) return 1;
    app::RunOptions opts;
    opts.workers = a.workers;
    opts.on_ready = [](const std::string& proxy, const std::string& admin) {
        std::printf(
            "Weir demo: stable and canary backends behind http://%s, split 90/10.\n"
            "Try:\n"
            "  for i in $(seq 20); do curl -s http://%s/hello; done | sort | uniq -c\n"
            "  curl -s http://%s/config\n"
            "  curl -s http://%s/ready\n"
            "Stop with Ctrl-C.\n",
            proxy.c_str(), proxy.c_str(), admin.c_str(), admin.c_str());
        std::fflush(stdout);
    };
    return app::serve(std::move(*r.config), opts);
}

}  // namespace

int main(int argc, char** argv) {
    Args a = parse_args(argc, argv);
    if (!a.ok) {
        usage(stderr);
        return 2;
    }
    try {
        if (a.command == "version") {
            std::printf("weir %s\n", WEIR_VERSION);
            return 0;
        }
        if (a.command == "help") {
            usage(stdout);
            return 0;
        }
        if (a.command == "check") return cmd_check(a);
        if (a.command == "run") return cmd_run(a);
        if (a.command == "demo") return cmd_demo(a);
    } catch (const std::exception& e) {
        log::error("weir", "{}", e.what());
        return 1;
    }
    std::fprintf(stderr, "weir: unknown command '%s'\n", a.command.c_str());
    usage(stderr);
    return 2;
}
