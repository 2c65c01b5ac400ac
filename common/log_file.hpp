// An append-only log file (the access log), opened by the control thread and
// shared through routing snapshots: a reload that reopens it (log rotation)
// publishes the new one, and the old closes when the last snapshot naming it
// is gone.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace weir {

class LogFile {
public:
    // "-" is standard output. Returns nullptr with `error` set on failure.
    static std::shared_ptr<LogFile> open(const std::string& path, std::string& error);
    ~LogFile();
    LogFile(const LogFile&) = delete;
    LogFile& operator=(const LogFile&) = delete;

    // Appends whole lines in one write where possible (O_APPEND keeps the
    // writes of several workers from overlapping). False when the write failed.
    bool append(std::string_view lines) const;
    const std::string& path() const { return path_; }

private:
    LogFile(int fd, std::string path, bool owned) : fd_(fd), path_(std::move(path)), owned_(owned) {}
    int fd_;
    std::string path_;
    bool owned_;
};

}  // namespace weir
