#include "common/log_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace weir {

std::shared_ptr<LogFile> LogFile::open(const std::string& path, std::string& error) {
    if (path == "-") return std::shared_ptr<LogFile>(new LogFile(STDOUT_FILENO, path, false));
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        error = std::strerror(errno);
        return nullptr;
    }
    return std::shared_ptr<LogFile>(new LogFile(fd, path, true));
}

LogFile::~LogFile() {
    if (owned_ && fd_ >= 0) ::close(fd_);
}

bool LogFile::append(std::string_view lines) const {
    while (!lines.empty()) {
        ssize_t n = ::write(fd_, lines.data(), lines.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        lines.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

}  // namespace weir
