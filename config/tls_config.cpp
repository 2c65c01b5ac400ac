#include "config/tls_config.hpp"

#include "tls/certificate.hpp"

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

}  // namespace

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
        if (auto path = resolve(*ca)) {
            if (std::ifstream(*path)) tls.client_ca = *path;
            else diag.error(ca->at, ca->path + ": cannot read " + *path + ": " + std::strerror(errno));
        }
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
