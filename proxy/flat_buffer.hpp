// A contiguous byte buffer with a read and a write position: bytes are read
// from the front, appended at the back, and moved down only when room runs out.
// Heads parsed in place stay valid until consume() + compact().
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace weir::proxy {

class FlatBuffer {
public:
    explicit FlatBuffer(std::size_t capacity) : data_(new char[capacity]), capacity_(capacity) {}

    std::string_view data() const { return {data_.get() + begin_, end_ - begin_}; }
    std::size_t size() const { return end_ - begin_; }
    bool empty() const { return begin_ == end_; }
    std::size_t capacity() const { return capacity_; }

    // Room to read into at the back, after moving the contents down if the
    // back is full.
    char* prepare() {
        if (begin_ == end_) begin_ = end_ = 0;
        if (begin_ > 0 && capacity_ - end_ < capacity_ / 2) {
            std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        return data_.get() + end_;
    }
    std::size_t writable() const { return capacity_ - end_; }
    void commit(std::size_t n) { end_ += n; }
    void consume(std::size_t n) {
        begin_ += n;
        if (begin_ == end_) begin_ = end_ = 0;
    }
    void clear() { begin_ = end_ = 0; }

    // Doubles the capacity up to `limit`; false when already at the limit.
    bool grow(std::size_t limit) {
        if (capacity_ >= limit) return false;
        std::size_t cap = capacity_ * 2 < limit ? capacity_ * 2 : limit;
        std::unique_ptr<char[]> bigger(new char[cap]);
        std::memcpy(bigger.get(), data_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
        data_ = std::move(bigger);
        capacity_ = cap;
        return true;
    }

private:
    std::unique_ptr<char[]> data_;
    std::size_t capacity_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

}  // namespace weir::proxy
