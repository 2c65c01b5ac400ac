// `weir check`, `weir version` and start-up failures of `weir run`.
#include "harness.hpp"

#include <algorithm>
#include <regex>

namespace weir_it {
namespace {

std::string valid_yaml() { return ConfigSpec::single("127.0.0.1:9").yaml(); }

TEST(CliTest, VersionPrintsAVersion) {
    auto r = run_weir({"version"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\d+\.\d+\.\d+)"))) << "stdout: " << r.out;
}

TEST(CliTest, CheckAcceptsAValidFile) {
    TempDir tmp;
    const std::string& dir = tmp.path;
    write_file(dir + "/ok.yaml", valid_yaml());
    auto r = run_weir({"check", "-c", dir + "/ok.yaml"});
    EXPECT_EQ(r.exit_code, 0) << "stdout: " << r.out << "\nstderr: " << r.err;
}

TEST(CliTest, CheckReportsFileLineColumnForAnUnknownKey) {
    TempDir tmp;
    const std::string& dir = tmp.path;
    std::string path = dir + "/bad.yaml";
    // Line 3, column 1: a key the schema does not know.
    std::string yaml = "workers: 2\ndrain_timeout: 5s\nbogus_key: 1\n" + valid_yaml().substr(valid_yaml().find("listeners"));
    write_file(path, yaml);
    auto r = run_weir({"check", "-c", path});
    EXPECT_EQ(r.exit_code, 1) << "stdout: " << r.out << "\nstderr: " << r.err;
    std::string all = r.out + r.err;
    EXPECT_NE(all.find(path + ":3:1: "), std::string::npos) << "expected '" << path << ":3:1: message' in:\n" << all;
    EXPECT_NE(all.find("bogus_key"), std::string::npos) << all;
}

TEST(CliTest, CheckReportsEveryErrorWithItsPosition) {
    TempDir tmp;
    const std::string& dir = tmp.path;
    std::string path = dir + "/bad.yaml";
    std::string yaml = valid_yaml();
    // Two independent problems: a malformed duration and a split naming an unknown pool.
    yaml.replace(yaml.find("drain_timeout: 5s"), 17, "drain_timeout: 5 parsecs");
    yaml.replace(yaml.find("split: {stable: 1}"), 18, "split: {nosuchpool: 1}");
    write_file(path, yaml);
    auto r = run_weir({"check", "-c", path});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    std::regex line_re("^" + std::regex_replace(path, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                       R"(:(\d+):(\d+): .+$)");
    int n = 0;
    std::istringstream in(r.err + r.out);
    std::string line;
    while (std::getline(in, line)) n += std::regex_match(line, line_re) ? 1 : 0;
    EXPECT_GE(n, 2) << "expected two FILE:LINE:COL: lines, got:\n" << r.err << r.out;
    EXPECT_NE((r.err + r.out).find(path + ":2:"), std::string::npos) << r.err;  // drain_timeout is on line 2
}

TEST(CliTest, CheckRejectsUnknownNestedKeysWithTheirPosition) {
    TempDir tmp;
    std::string path = tmp.path + "/nested.yaml";
    std::string yaml = valid_yaml();
    const int line = static_cast<int>(std::count(yaml.begin(), yaml.end(), '\n')) + 1;
    yaml += "    bogus_route_key: 1\n";  // inside the last route, column 5
    write_file(path, yaml);
    auto r = run_weir({"check", "-c", path});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    std::string where = path + ":" + std::to_string(line) + ":5: ";
    EXPECT_NE((r.out + r.err).find(where), std::string::npos) << "expected '" << where << "' in:\n" << r.err;
    EXPECT_NE((r.out + r.err).find("bogus_route_key"), std::string::npos) << r.err;
}

TEST(CliTest, CheckFailsOnAMissingFile) {
    auto r = run_weir({"check", "-c", "/nonexistent/weir-it/none.yaml"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("/nonexistent/weir-it/none.yaml"), std::string::npos) << r.err;
}

TEST(CliTest, RunRefusesAnInvalidFile) {
    TempDir tmp;
    const std::string& dir = tmp.path;
    std::string path = dir + "/bad.yaml";
    write_file(path, "workers: 2\nlisteners: []\n");
    auto r = run_weir({"run", "-c", path}, 10s);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find(path + ":"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace weir_it
