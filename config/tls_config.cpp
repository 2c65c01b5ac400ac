#include "config/tls_config.hpp"

#include "tls/certificate.hpp"
#include "tls/client_context.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace weir::config {
namespace {

using yaml::Field;
using yaml::MapReader;

std::optional<CertificateFiles> read_pair(MapReader& map, const std::function<std::optional<std::string>(const Field&)>& resolve) {
    auto c = map.require("cert");
    auto k = map.require("key");
    if (!c || !k) return std::nullopt;
    auto cert = resolve(*c);
    auto key = resolve(*k);
    if (!cert || !key) return std::nullopt;
    return CertificateFiles{*cert, *key};
}

// A CA file is read at load, so a typo fails `weir check`, not the first request.
std::optional<std::string> readable_file(const Field& f, yaml::Diagnostics& diag,
                                         const std::function<std::optional<std::string>(const Field&)>& resolve) {
    auto path = resolve(f);
    if (!path) return std::nullopt;
    if (!std::ifstream(*path)) {
        diag.error(f.at, f.path + ": cannot read " + *path + ": " + std::strerror(errno));
        return std::nullopt;
    }
    return path;
}

// A DNS name (letters, digits, '-', '_', '.') or an IP literal, without a port.
bool valid_server_name(const std::string& name) {
    if (name.empty() || name.size() > 253) return false;
    if (tls::is_ip_literal(name)) return true;
    return std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '-' || c == '_' || c == '.';
    });
}

}  // namespace

std::optional<UpstreamTlsConfig> read_upstream_tls(const Field& f, yaml::Diagnostics& diag,
                                                   const std::function<std::optional<std::string>(const Field&)>& resolve,
                                                   std::int64_t now) {
    if (!f.node.IsMap()) {
        // `tls: true` is TLS with every default; `false` is plain TCP.
        auto on = yaml::read_bool(f, diag);
        if (!on || !*on) return std::nullopt;
        return UpstreamTlsConfig{};
    }
    MapReader map(f, diag);
    if (!map.ok()) return std::nullopt;
    UpstreamTlsConfig tls;
    const std::size_t errors_before = diag.count();
    std::optional<Field> ca_at;
    if (auto v = map.take("ca_file")) {
        if (auto path = readable_file(*v, diag, resolve)) tls.ca_file = *path;
        ca_at = v;
    }
    if (auto v = map.take("server_name")) {
        if (auto name = yaml::read_string(*v, diag)) {
            if (valid_server_name(*name)) tls.server_name = tls::lower_name(*name);
            else diag.error(v->at, v->path + ": '" + *name + "' is not a host name or an IP address (no port)");
        }
    }
    if (auto v = map.take("verify")) {
        if (auto b = yaml::read_bool(*v, diag)) tls.verify = *b;
    }
    // A CA that would not be used is a mistake to point out, not to ignore.
    if (!tls.verify && ca_at) diag.error(ca_at->at, ca_at->path + ": has no effect with verify: false");
    auto cert = map.take("cert");
    auto key = map.take("key");
    if (cert && !key) diag.error(cert->at, f.path + ": cert given without key");
    if (key && !cert) diag.error(key->at, f.path + ": key given without cert");
    if (cert && key) {
        auto c = resolve(*cert);
        auto k = resolve(*key);
        if (c && k) {
            tls.client = {*c, *k};
            tls::LoadedCertificate loaded = tls::load_certificate(*c, *k, now);
            if (loaded.certificate) tls.client_loaded = std::move(loaded.certificate);
            else diag.error(cert->at, f.path + ": " + loaded.error);
        }
    }
    map.finish();
    if (diag.count() != errors_before) return std::nullopt;
    return tls;
}

std::optional<ListenerTlsConfig> read_listener_tls(const Field& f, yaml::Diagnostics& diag,
                                                   const std::function<std::optional<std::string>(const Field&)>& resolve,
                                                   std::int64_t now) {
    MapReader map(f, diag);
    if (!map.ok()) return std::nullopt;
    ListenerTlsConfig tls;
    const std::size_t errors_before = diag.count();
    // Where each certificate was named, for its errors.
    std::vector<yaml::Location> named_at;
    auto short_cert = map.take("cert");
    auto short_key = map.take("key");
    auto list = map.take("certificates");
    if (list && (short_cert || short_key)) {
        diag.error(list->at, f.path + ": give either cert and key, or certificates, not both");
    } else if (list) {
        if (auto items = yaml::read_sequence(*list, diag)) {
            if (items->empty()) diag.error(list->at, list->path + ": must list at least one certificate");
            for (const auto& item : *items) {
                MapReader pair(item, diag);
                if (!pair.ok()) continue;
                if (auto files = read_pair(pair, resolve)) {
                    tls.certificates.push_back(*files);
                    named_at.push_back(item.at);
                }
                pair.finish();
            }
        }
    } else if (short_cert || short_key) {
        if (!short_cert) diag.error(f.at, f.path + ": key given without cert");
        if (!short_key) diag.error(f.at, f.path + ": cert given without key");
        if (short_cert && short_key) {
            auto cert = resolve(*short_cert);
            auto key = resolve(*short_key);
            if (cert && key) {
                tls.certificates.push_back({*cert, *key});
                named_at.push_back(short_cert->at);
            }
        }
    } else {
        diag.error(f.at, f.path + ": needs a certificate: cert and key, or certificates");
    }
    if (auto v = map.take("min_version")) {
        if (auto text = yaml::read_string(*v, diag)) {
            if (*text == "1.2" || *text == "1.3") tls.min_version = *text;
            else diag.error(v->at, v->path + ": " + *text + " is not a TLS version Weir speaks: \"1.2\" or \"1.3\"");
        }
    }
    if (auto ca = map.take("client_ca")) {
        if (auto path = readable_file(*ca, diag, resolve)) tls.client_ca = *path;
    }
    map.finish();

    for (std::size_t i = 0; i < tls.certificates.size(); ++i) {
        const auto& files = tls.certificates[i];
        tls::LoadedCertificate loaded = tls::load_certificate(files.cert, files.key, now);
        if (!loaded.certificate) {
            diag.error(named_at[i], f.path + ": " + loaded.error);
            continue;
        }
        tls.loaded.push_back(std::move(loaded.certificate));
    }
    if (diag.count() != errors_before) return std::nullopt;
    return tls;
}

}  // namespace weir::config
