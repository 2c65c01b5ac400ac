// Notices changes to the config file so it can be reloaded (hot reload).
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace weir::control {

// Watches the directory of `path` with inotify (not the file itself), so an
// editor's write-to-temp-and-rename and a Kubernetes ConfigMap "..data" symlink
// swap are both seen. Reacts to events (close-after-write, create, delete,
// move in or out, attribute change) on a directory entry whose name is
//   - the file's base name, or
//   - starts with ".." (the ConfigMap "..data", "..data_tmp", "..2026_01..."), or
//   - if `path` is a symlink, the first component of its target when that
//     target is relative (e.g. "releases" for weir.yaml -> releases/weir.yaml).
// An inotify queue overflow also counts as a change. Changes to other files in
// the directory are ignored. The file's content is never read: the callback
// decides what to do.
//
// Calls on_change on the io_context's thread once per burst: after `debounce`
// with no further relevant event (a trailing debounce).
//
// If inotify is unavailable or the directory cannot be watched, logs an error
// and does nothing (reload still works via SIGHUP and the API).
//
// The destructor stops watching and may be called on any thread, including
// from inside on_change: once it has returned, on_change is not called again
// (a callback already running on another thread is waited for). Closing the
// inotify descriptor is posted to the io_context.
class FileWatch {
public:
    FileWatch(boost::asio::io_context& io, std::string path, std::chrono::milliseconds debounce,
              std::function<void()> on_change);
    ~FileWatch();  // stops watching

    FileWatch(const FileWatch&) = delete;
    FileWatch& operator=(const FileWatch&) = delete;

    // True when the inotify watch was set up (false: it logged why and does nothing).
    bool active() const;

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace weir::control
