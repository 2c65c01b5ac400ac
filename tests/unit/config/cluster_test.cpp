// The `cluster` section (docs/config.md): its defaults, every key parsed and
// shown by GET /config without the password, and every error at
// FILE:LINE:COL.
#include "config/config.hpp"
#include "config/to_json.hpp"
#include "test_support.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace weir::config {
namespace {

using namespace std::chrono_literals;
using namespace config_test;

// Line 1 is the listener, line 2 the admin address, line 3 `cluster:`, and
// `cluster_lines` start at line 4; pools and routes follow.
// `token_file`: the admin's token file (a wildcard admin address needs one).
LoadResult load_with(const std::string& cluster_lines, const std::string& admin = "127.0.0.1:9901",
                     const std::string& token_file = "") {
    std::string yaml = "listeners: [{name: public, address: 127.0.0.1:8080}]\n"
                       "admin: {address: \"" +
                       admin + "\"" + (token_file.empty() ? "" : ", token_file: " + token_file) +
                       "}\n"
                       "cluster:\n" +
                       cluster_lines +
                       "pools:\n"
                       "  - name: p\n"
                       "    endpoints: [{address: 127.0.0.1:9001}]\n"
                       "routes: [{name: r, split: {p: 1}}]\n";
    return load_config_text(yaml, "test.yaml");
}

// A temp dir with a password file in it, removed at scope exit.
struct Secrets {
    std::string dir;
    Secrets() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "weir-cluster-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        dir = tmpl;
    }
    ~Secrets() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    std::string write(const std::string& name, const std::string& text) const {
        std::string path = dir + "/" + name;
        std::ofstream(path, std::ios::binary) << text;
        return path;
    }
};

TEST(ConfigCluster, DefaultsOfTheOptionalKeys) {
    const auto r = load_with("  etcd: [http://127.0.0.1:2379]\n");
    const Config& c = ok(r);
    ASSERT_TRUE(c.cluster);
    EXPECT_EQ(c.cluster->etcd, std::vector<std::string>{"http://127.0.0.1:2379"});
    EXPECT_EQ(c.cluster->prefix, "/weir");
    EXPECT_EQ(c.cluster->lease, 5s);
    EXPECT_TRUE(c.cluster->username.empty());
    EXPECT_TRUE(c.cluster->password.empty());
    EXPECT_TRUE(c.cluster->name.empty());
    EXPECT_EQ(c.cluster->advertise.text(), "127.0.0.1:9901") << "advertise defaults to admin.address";
}

TEST(ConfigCluster, NoClusterMeansNoFleet) {
    const auto r = load_config_text(
        "listeners: [{name: public, address: 127.0.0.1:8080}]\n"
        "pools: [{name: p, endpoints: [{address: 127.0.0.1:9001}]}]\n"
        "routes: [{name: r, split: {p: 1}}]\n",
        "test.yaml");
    EXPECT_FALSE(ok(r).cluster.has_value());
    EXPECT_EQ(boost::json::parse(to_json(ok(r), 1)).as_object().count("cluster"), 0u);
}

TEST(ConfigCluster, AGoodConfigRoundTripsWithoutThePassword) {
    Secrets s;
    const std::string pw = s.write("etcd.pw", "s3cret-pa55\n\n");
    const auto r = load_with("  etcd: [http://127.0.0.1:2379, \"http://etcd-2.internal:2379/\"]\n"
                             "  prefix: /weir/prod\n"
                             "  lease: 2s\n"
                             "  username: weir\n"
                             "  password_file: " +
                             pw +
                             "\n"
                             "  advertise: 10.0.0.7:9901\n"
                             "  name: r1\n");
    const Config& c = ok(r);
    ASSERT_TRUE(c.cluster);
    EXPECT_EQ(c.cluster->etcd.size(), 2u);
    EXPECT_EQ(c.cluster->prefix, "/weir/prod");
    EXPECT_EQ(c.cluster->lease, 2s);
    EXPECT_EQ(c.cluster->username, "weir");
    EXPECT_EQ(c.cluster->password, "s3cret-pa55") << "trailing line breaks are dropped";
    EXPECT_EQ(c.cluster->advertise.text(), "10.0.0.7:9901");
    EXPECT_EQ(c.cluster->name, "r1");

    const std::string text = to_json(c, 7);
    EXPECT_EQ(text.find("s3cret"), std::string::npos) << "the password is never shown: " << text;
    boost::json::value v = boost::json::parse(text);
    const auto& cl = v.at("cluster").as_object();
    EXPECT_EQ(cl.at("etcd").as_array().size(), 2u);
    EXPECT_EQ(cl.at("etcd").at(0).as_string(), "http://127.0.0.1:2379");
    EXPECT_EQ(cl.at("prefix").as_string(), "/weir/prod");
    EXPECT_EQ(cl.at("lease").as_string(), "2s");
    EXPECT_EQ(cl.at("username").as_string(), "weir");
    EXPECT_EQ(cl.at("password_file").as_string(), pw);
    EXPECT_EQ(cl.at("advertise").as_string(), "10.0.0.7:9901");
    EXPECT_EQ(cl.at("name").as_string(), "r1");
    EXPECT_EQ(cl.count("password"), 0u);
}

TEST(ConfigCluster, WildcardAdminWithAdvertiseIsAccepted) {
    Secrets s;
    const auto r = load_with("  etcd: [http://127.0.0.1:2379]\n  advertise: 10.0.0.7:9901\n", "0.0.0.0:9901",
                             s.write("token", "a-long-enough-admin-token-0123456789\n"));
    EXPECT_EQ(ok(r).cluster->advertise.text(), "10.0.0.7:9901");
}

TEST(ConfigClusterErrors, EtcdIsRequiredAndNotEmpty) {
    EXPECT_TRUE(has_error(load_with("  prefix: /weir/x\n"), 4, 3, "etcd"));
    EXPECT_FALSE(load_with("  prefix: /weir/x\n").config);
    auto empty = load_with("  etcd: []\n");
    EXPECT_FALSE(empty.config);
    EXPECT_TRUE(has_error(empty, 4, 9, "etcd")) << dump(empty.errors);
}

TEST(ConfigClusterErrors, HttpsAndOtherUrlsAreRefused) {
    EXPECT_TRUE(only_error(load_with("  etcd: [https://127.0.0.1:2379]\n"), 4, 10, "https:// etcd endpoints are not supported"));
    EXPECT_TRUE(only_error(load_with("  etcd: [127.0.0.1:2379]\n"), 4, 10, "must be http://host:port, got 127.0.0.1:2379"));
    EXPECT_TRUE(only_error(load_with("  etcd: [\"http://127.0.0.1\"]\n"), 4, 10, "must be http://host:port"));
    EXPECT_TRUE(only_error(load_with("  etcd: [http://127.0.0.1:2379, \"http://h:0\"]\n"), 4, 33, "must be http://host:port"));
}

TEST(ConfigClusterErrors, BadPrefix) {
    const std::string etcd = "  etcd: [http://127.0.0.1:2379]\n";
    EXPECT_TRUE(only_error(load_with(etcd + "  prefix: weir\n"), 5, 11, "must start with '/' and not end with it"));
    EXPECT_TRUE(only_error(load_with(etcd + "  prefix: /weir/\n"), 5, 11, "must start with '/' and not end with it"));
    EXPECT_TRUE(only_error(load_with(etcd + "  prefix: \"\"\n"), 5, 11, "must start with '/'"));
    EXPECT_TRUE(only_error(load_with(etcd + "  prefix: /\n"), 5, 11, "must start with '/' and not end with it"));
}

TEST(ConfigClusterErrors, LeaseWholeSecondsFrom2sTo5m) {
    const std::string etcd = "  etcd: [http://127.0.0.1:2379]\n";
    const std::string why = "must be whole seconds from 2s to 5m";
    EXPECT_TRUE(only_error(load_with(etcd + "  lease: 2500ms\n"), 5, 10, why));
    EXPECT_TRUE(only_error(load_with(etcd + "  lease: 1s\n"), 5, 10, why));
    EXPECT_TRUE(only_error(load_with(etcd + "  lease: 301s\n"), 5, 10, why));
    EXPECT_TRUE(only_error(load_with(etcd + "  lease: 6m\n"), 5, 10, why));
    EXPECT_EQ(ok(load_with(etcd + "  lease: 5m\n")).cluster->lease, 5min);
    EXPECT_EQ(ok(load_with(etcd + "  lease: 2000ms\n")).cluster->lease, 2s);
}

TEST(ConfigClusterErrors, UsernameAndPasswordFileGoTogether) {
    Secrets s;
    const std::string pw = s.write("pw", "secret\n");
    const std::string etcd = "  etcd: [http://127.0.0.1:2379]\n";
    EXPECT_TRUE(only_error(load_with(etcd + "  username: weir\n"), 5, 13,
                           "cluster.username: needs cluster.password_file"));
    EXPECT_TRUE(only_error(load_with(etcd + "  password_file: " + pw + "\n"), 5, 18, "needs cluster.username"));
}

TEST(ConfigClusterErrors, PasswordFileUnreadableOrEmpty) {
    Secrets s;
    const std::string etcd = "  etcd: [http://127.0.0.1:2379]\n  username: weir\n";
    const std::string missing = s.dir + "/nope";
    EXPECT_TRUE(only_error(load_with(etcd + "  password_file: " + missing + "\n"), 6, 18, "cannot read"));
    const std::string empty = s.write("empty", "\n");
    EXPECT_TRUE(only_error(load_with(etcd + "  password_file: " + empty + "\n"), 6, 18, "is empty"));
    if (::geteuid() != 0) {  // root reads anything
        const std::string locked = s.write("locked", "secret\n");
        ::chmod(locked.c_str(), 0);
        EXPECT_TRUE(only_error(load_with(etcd + "  password_file: " + locked + "\n"), 6, 18, "cannot read"));
    }
}

TEST(ConfigClusterErrors, UnknownKeyInCluster) {
    auto r = load_with("  etcd: [http://127.0.0.1:2379]\n  leases: 2s\n");
    EXPECT_FALSE(r.config);
    EXPECT_TRUE(has_error(r, 5, 3, "did you mean 'lease'"));
    auto r2 = load_with("  etcd: [http://127.0.0.1:2379]\n  password: hunter2\n");
    EXPECT_FALSE(r2.config);
    EXPECT_TRUE(has_error(r2, 5, 3, "unknown key 'password'"));
}

TEST(ConfigClusterErrors, WildcardAdminNeedsAdvertise) {
    Secrets s;
    const std::string token = s.write("token", "a-long-enough-admin-token-0123456789\n");
    for (const char* wildcard : {"0.0.0.0:9901", "[::]:9901"}) {
        auto r = load_with("  etcd: [http://127.0.0.1:2379]\n", wildcard, token);
        EXPECT_TRUE(only_error(r, 4, 3,
                               std::string("cluster: admin.address ") + wildcard +
                                   " does not say where other replicas can reach this one; set cluster.advertise"))
            << wildcard;
    }
}

TEST(ConfigClusterErrors, BadName) {
    const std::string etcd = "  etcd: [http://127.0.0.1:2379]\n";
    EXPECT_TRUE(only_error(load_with(etcd + "  name: a/b\n"), 5, 9, "must be non-empty and without '/'"));
    EXPECT_TRUE(only_error(load_with(etcd + "  name: \"\"\n"), 5, 9, "must be non-empty"));
}

}  // namespace
}  // namespace weir::config
