#include "control/file_watch.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace weir::control {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Writes in place: open with O_TRUNC, write, close (IN_CLOSE_WRITE).
void write_in_place(const std::string& path, const std::string& text) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("open " + path);
    if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        ::close(fd);
        throw std::runtime_error("write " + path);
    }
    ::close(fd);
}

// An io_context running on its own thread, a temp directory, and a callback
// counter with bounded waits.
class FileWatchTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/weir-watch-test-XXXXXX";
        char* p = ::mkdtemp(tmpl);
        ASSERT_TRUE(p);
        dir_ = p;
        thread_ = std::thread([this] {
            io_thread_id_ = std::this_thread::get_id();
            io_.run();
        });
    }

    void TearDown() override {
        watch_.reset();
        guard_.reset();
        // The watch's cleanup is posted to the io_context; give it a bounded
        // moment to run, then stop regardless.
        auto deadline = Clock::now() + 5s;
        while (!io_.stopped() && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
        io_.stop();
        thread_.join();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    std::string file(const std::string& name) const { return dir_ + "/" + name; }

    void watch(const std::string& path, std::chrono::milliseconds debounce) {
        debounce_ = debounce;
        watch_ = std::make_unique<FileWatch>(io_, path, debounce, [this] {
            std::lock_guard lock(mutex_);
            ++calls_;
            last_call_ = Clock::now();
            if (std::this_thread::get_id() != io_thread_id_) wrong_thread_ = true;
            cv_.notify_all();
        });
        ASSERT_TRUE(watch_->active());
    }

    // Waits (bounded) until at least `n` callbacks happened; returns the count.
    int wait_for_calls(int n, std::chrono::milliseconds limit = 5s) {
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, limit, [&] { return calls_ >= n; });
        return calls_;
    }

    // Lets several debounce periods pass and returns the count: for checking
    // that no (further) callback comes.
    int calls_after_quiet() {
        std::unique_lock lock(mutex_);
        int before = calls_;
        cv_.wait_for(lock, debounce_ * 3 + 100ms, [&] { return calls_ > before + 5; });
        return calls_;
    }

    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_ =
        boost::asio::make_work_guard(io_);
    std::thread thread_;
    std::thread::id io_thread_id_;
    std::string dir_;
    std::unique_ptr<FileWatch> watch_;
    std::chrono::milliseconds debounce_{100};

    std::mutex mutex_;
    std::condition_variable cv_;
    int calls_ = 0;
    bool wrong_thread_ = false;
    Clock::time_point last_call_;
};

TEST_F(FileWatchTest, InPlaceWriteCallsBackOnce) {
    std::string path = file("weir.yaml");
    write_in_place(path, "a: 1\n");
    watch(path, 100ms);
    write_in_place(path, "a: 2\n");
    EXPECT_EQ(wait_for_calls(1), 1);
    EXPECT_EQ(calls_after_quiet(), 1);
    EXPECT_FALSE(wrong_thread_) << "on_change must run on the io_context's thread";
}

TEST_F(FileWatchTest, WriteTempThenRenameOverCallsBack) {
    std::string path = file("weir.yaml");
    write_in_place(path, "a: 1\n");
    watch(path, 100ms);
    write_in_place(file(".weir.yaml.swp"), "a: 2\n");  // editor's temp file
    ASSERT_EQ(::rename(file(".weir.yaml.swp").c_str(), path.c_str()), 0);
    EXPECT_EQ(wait_for_calls(1), 1);
    EXPECT_EQ(calls_after_quiet(), 1);
}

TEST_F(FileWatchTest, DeleteAndRecreateCallsBack) {
    std::string path = file("weir.yaml");
    write_in_place(path, "a: 1\n");
    watch(path, 100ms);
    ASSERT_EQ(::unlink(path.c_str()), 0);
    write_in_place(path, "a: 2\n");
    EXPECT_EQ(wait_for_calls(1), 1);
    EXPECT_EQ(calls_after_quiet(), 1);
}

TEST_F(FileWatchTest, BurstOfWritesWithinTheDebounceCallsBackExactlyOnce) {
    std::string path = file("weir.yaml");
    write_in_place(path, "a: 0\n");
    watch(path, 200ms);
    Clock::time_point last_write;
    for (int i = 1; i <= 10; ++i) {
        write_in_place(path, "a: " + std::to_string(i) + "\n");
        last_write = Clock::now();
        std::this_thread::sleep_for(10ms);  // pacing of the burst
    }
    EXPECT_EQ(wait_for_calls(1), 1);
    EXPECT_EQ(calls_after_quiet(), 1);
    std::lock_guard lock(mutex_);
    EXPECT_GE(last_call_ - last_write, 190ms) << "must wait for a quiet period after the last write";
}

TEST_F(FileWatchTest, SeparateBurstsCallBackOncePerBurst) {
    std::string path = file("weir.yaml");
    write_in_place(path, "a: 0\n");
    watch(path, 100ms);
    write_in_place(path, "a: 1\n");
    write_in_place(path, "a: 2\n");
    EXPECT_EQ(wait_for_calls(1), 1);
    write_in_place(path, "a: 3\n");
    EXPECT_EQ(wait_for_calls(2), 2);
    EXPECT_EQ(calls_after_quiet(), 2);
}

// Kubernetes ConfigMap volume layout: weir.yaml -> ..data/weir.yaml,
// ..data -> ..2026_01; an update writes ..2026_02, points ..data_tmp at it and
// renames ..data_tmp over ..data (then removes the old directory).
TEST_F(FileWatchTest, ConfigMapSymlinkSwapCallsBack) {
    fs::create_directory(file("..2026_01"));
    write_in_place(file("..2026_01/weir.yaml"), "version: 1\n");
    fs::create_directory(file("..2026_02"));
    write_in_place(file("..2026_02/weir.yaml"), "version: 2\n");
    fs::create_directory_symlink("..2026_01", file("..data"));
    fs::create_symlink("..data/weir.yaml", file("weir.yaml"));
    std::string path = file("weir.yaml");
    watch(path, 100ms);

    fs::create_directory_symlink("..2026_02", file("..data_tmp"));
    ASSERT_EQ(::rename(file("..data_tmp").c_str(), file("..data").c_str()), 0);
    fs::remove_all(file("..2026_01"));

    EXPECT_EQ(wait_for_calls(1), 1);
    EXPECT_EQ(calls_after_quiet(), 1);
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "version: 2");
}

// The config is a symlink into a directory whose link is swapped (not a ".." name).
TEST_F(FileWatchTest, SwapOfTheSymlinkTargetsTopDirectoryCallsBack) {
    fs::create_directory(file("v1"));
    write_in_place(file("v1/weir.yaml"), "version: 1\n");
    fs::create_directory(file("v2"));
    write_in_place(file("v2/weir.yaml"), "version: 2\n");
    fs::create_directory_symlink("v1", file("current"));
    fs::create_symlink("current/weir.yaml", file("weir.yaml"));
    watch(file("weir.yaml"), 100ms);

    fs::create_directory_symlink("v2", file("current.new"));
    ASSERT_EQ(::rename(file("current.new").c_str(), file("current").c_str()), 0);
    EXPECT_EQ(wait_for_calls(1), 1);
    EXPECT_EQ(calls_after_quiet(), 1);
}

TEST_F(FileWatchTest, UnrelatedFilesInTheDirectoryAreIgnored) {
    std::string path = file("weir.yaml");
    write_in_place(path, "a: 1\n");
    write_in_place(file("other.yaml"), "x\n");
    watch(path, 100ms);
    for (int i = 0; i < 5; ++i) write_in_place(file("other.yaml"), "x" + std::to_string(i) + "\n");
    write_in_place(file("other.yaml.tmp"), "y\n");
    ASSERT_EQ(::rename(file("other.yaml.tmp").c_str(), file("other.yaml").c_str()), 0);
    write_in_place(file("weir.yaml.bak"), "z\n");
    ASSERT_EQ(::unlink(file("weir.yaml.bak").c_str()), 0);
    fs::create_directory(file("sub"));
    write_in_place(file("sub/weir.yaml"), "nested\n");
    EXPECT_EQ(calls_after_quiet(), 0);

    // The watch is alive all the same.
    write_in_place(path, "a: 2\n");
    EXPECT_EQ(wait_for_calls(1), 1);
}

TEST_F(FileWatchTest, NoCallbackAfterDestruction) {
    std::string path = file("weir.yaml");
    write_in_place(path, "a: 1\n");
    watch(path, 100ms);
    write_in_place(path, "a: 2\n");  // pending debounce...
    watch_.reset();                  // ...cancelled by the destructor
    write_in_place(path, "a: 3\n");
    EXPECT_EQ(calls_after_quiet(), 0);
}

TEST_F(FileWatchTest, MayBeDestroyedFromItsOwnCallback) {
    std::string path = file("weir.yaml");
    write_in_place(path, "a: 1\n");
    debounce_ = 50ms;
    watch_ = std::make_unique<FileWatch>(io_, path, 50ms, [this] {
        watch_.reset();
        std::lock_guard lock(mutex_);
        ++calls_;
        cv_.notify_all();
    });
    write_in_place(path, "a: 2\n");
    EXPECT_EQ(wait_for_calls(1), 1);
    write_in_place(path, "a: 3\n");
    EXPECT_EQ(calls_after_quiet(), 1);
}

TEST_F(FileWatchTest, MissingDirectoryIsLoggedAndInactive) {
    FileWatch w(io_, file("no/such/dir/weir.yaml"), 50ms, [] {});
    EXPECT_FALSE(w.active());
}

}  // namespace
}  // namespace weir::control
