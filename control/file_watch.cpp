#include "control/file_watch.hpp"

#include "common/log.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/inotify.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <exception>
#include <filesystem>
#include <mutex>
#include <system_error>

namespace weir::control {

namespace {
constexpr std::uint32_t kMask =
    IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_ATTRIB | IN_ONLYDIR;

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }
}  // namespace

struct FileWatch::Impl : std::enable_shared_from_this<FileWatch::Impl> {
    Impl(boost::asio::io_context& io_, std::string path_, std::chrono::milliseconds debounce_,
         std::function<void()> on_change_)
        : io(io_),
          path(std::move(path_)),
          debounce(debounce_),
          on_change(std::move(on_change_)),
          sd(io_),
          timer(io_) {}

    boost::asio::io_context& io;
    std::string path;
    std::string dir;
    std::string base;
    std::chrono::milliseconds debounce;
    std::function<void()> on_change;
    boost::asio::posix::stream_descriptor sd;
    boost::asio::steady_timer timer;
    bool active = false;

    // Guards `stopped` against a callback in flight; recursive so that the
    // FileWatch may be destroyed from inside on_change.
    std::recursive_mutex mutex;
    std::atomic<bool> stopped{false};

    void start() {
        std::filesystem::path p(path);
        base = p.filename().string();
        std::string parent = p.parent_path().string();
        dir = parent.empty() ? std::string(".") : std::move(parent);
        if (base.empty()) {
            weir::log::error("config", "file watch: {} names no file; changes will not be noticed (use SIGHUP or "
                             "POST /reload)", path);
            return;
        }
        int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0) {
            weir::log::error("config", "file watch: inotify unavailable ({}); changes to {} will not be noticed "
                             "(use SIGHUP or POST /reload)", errno_text(errno), path);
            return;
        }
        if (::inotify_add_watch(fd, dir.c_str(), kMask) < 0) {
            int err = errno;
            ::close(fd);
            weir::log::error("config", "file watch: cannot watch directory {} ({}); changes to {} will not be "
                             "noticed (use SIGHUP or POST /reload)", dir, errno_text(err), path);
            return;
        }
        sd.assign(fd);
        active = true;
        weir::log::debug("config", "file watch: watching {} for changes to {}", dir, base);
        wait_readable();
    }

    void wait_readable() {
        sd.async_wait(boost::asio::posix::descriptor_base::wait_read,
                      [self = shared_from_this()](const boost::system::error_code& ec) { self->on_readable(ec); });
    }

    // First component of the symlink's target when `path` is a symlink with a
    // relative target ("..data" for weir.yaml -> ..data/weir.yaml).
    std::string link_top() const {
        char buf[4096];
        ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
        if (n <= 0) return {};
        std::string_view target(buf, static_cast<std::size_t>(n));
        if (target.front() == '/') return {};
        std::string top(target.substr(0, target.find('/')));
        if (top == "." || top == "..") return {};
        return top;
    }

    bool relevant(std::string_view name, const std::string& top) const {
        return name == base || name.substr(0, 2) == ".." || (!top.empty() && name == top);
    }

    void on_readable(const boost::system::error_code& ec) {
        if (ec || stopped.load()) return;
        bool changed = false;
        bool gone = false;
        std::string top = link_top();
        alignas(inotify_event) char buf[16384];
        for (;;) {
            ssize_t n = ::read(sd.native_handle(), buf, sizeof buf);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                    weir::log::error("config", "file watch: reading inotify events failed: {}", errno_text(errno));
                break;
            }
            if (n == 0) break;
            for (char* p = buf; p < buf + n;) {
                auto* ev = reinterpret_cast<inotify_event*>(p);
                p += sizeof(inotify_event) + ev->len;
                if (ev->mask & IN_Q_OVERFLOW) {
                    changed = true;  // events were lost: assume the file changed
                } else if (ev->mask & IN_IGNORED) {
                    gone = true;
                } else if (ev->len > 0 && relevant(std::string_view(ev->name), top)) {
                    changed = true;
                }
            }
        }
        if (changed) {
            timer.expires_after(debounce);  // restarts the quiet period: cancels a pending wait
            timer.async_wait(
                [self = shared_from_this()](const boost::system::error_code& tec) { self->on_quiet(tec); });
        }
        if (gone) {
            weir::log::error("config", "file watch: directory {} was removed or unmounted; changes to {} will no "
                             "longer be noticed (use SIGHUP or POST /reload)", dir, path);
            return;
        }
        wait_readable();
    }

    void on_quiet(const boost::system::error_code& ec) {
        if (ec) return;  // cancelled: a newer event restarted the debounce
        std::lock_guard lock(mutex);
        if (stopped.load()) return;
        try {
            on_change();
        } catch (const std::exception& e) {
            weir::log::error("config", "file watch: change handler failed: {}", e.what());
        } catch (...) {
            weir::log::error("config", "file watch: change handler failed");
        }
    }

    void stop() {
        {
            std::lock_guard lock(mutex);  // waits for a callback running on another thread
            stopped.store(true);
        }
        if (!active) return;
        boost::asio::post(io, [self = shared_from_this()] {
            boost::system::error_code ignored;
            self->timer.cancel();
            self->sd.close(ignored);
        });
    }
};

FileWatch::FileWatch(boost::asio::io_context& io, std::string path, std::chrono::milliseconds debounce,
                     std::function<void()> on_change)
    : impl_(std::make_shared<Impl>(io, std::move(path), debounce, std::move(on_change))) {
    impl_->start();
}

FileWatch::~FileWatch() { impl_->stop(); }

bool FileWatch::active() const { return impl_->active; }

}  // namespace weir::control
