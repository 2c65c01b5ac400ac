// Event log: one line per event on stderr, "TIME LEVEL component: message".
// Each line goes out in a single write(2) so lines from different threads
// never interleave.
#pragma once

#include <fmt/core.h>

#include <string_view>

namespace weir::log {

enum class Level { debug, info, warn, error };

void set_min_level(Level level);
bool enabled(Level level);
void write(Level level, std::string_view component, std::string_view message);

template <class... Args>
void info(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(Level::info)) write(Level::info, component, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void warn(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(Level::warn)) write(Level::warn, component, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void error(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(Level::error)) write(Level::error, component, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void debug(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(Level::debug)) write(Level::debug, component, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace weir::log
