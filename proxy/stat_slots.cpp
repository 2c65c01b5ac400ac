#include "proxy/stat_slots.hpp"

#include "routing/stat_id.hpp"

#include <algorithm>

namespace weir::proxy {

std::int64_t StatSlots::slot_bytes() {
    // The slot, its duration buckets (allocated on the first request) and a
    // few status codes.
    return static_cast<std::int64_t>(sizeof(Slot) + (telemetry::duration_bounds().size() + 1) * sizeof(std::uint64_t) +
                                     8 * sizeof(std::pair<std::uint16_t, std::uint64_t>));
}

std::int64_t StatSlots::slice_bytes() {
    return static_cast<std::int64_t>(sizeof(rollout::PoolSlice) +
                                     rollout::Histogram::bucket_count * sizeof(std::uint32_t));
}

StatSlots::~StatSlots() {
    for (auto& s : slots_) release(s);
}

void StatSlots::release(std::unique_ptr<Slot>& s) {
    if (!s) return;
    std::int64_t bytes = slot_bytes() + (s->slice ? slice_bytes() : 0);
    budget_.bytes.fetch_sub(bytes, std::memory_order_relaxed);
    budget_.slots.fetch_sub(1, std::memory_order_relaxed);
    s.reset();
}

void StatSlots::set_live(const std::vector<std::uint32_t>& ids) {
    std::uint32_t limit = 0;
    for (std::uint32_t id : ids) limit = std::max(limit, routing::stat_index(id) + 1);
    std::vector<std::uint32_t> next(limit, 0);
    for (std::uint32_t id : ids) next[routing::stat_index(id)] = id;
    live_ = std::move(next);
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i] && (i >= live_.size() || live_[i] != slots_[i]->id)) release(slots_[i]);
    }
    slots_.resize(std::min(slots_.size(), live_.size()));
    std::erase_if(with_slice_, [&](std::uint32_t i) { return i >= slots_.size() || !slots_[i]; });
    slots_.shrink_to_fit();
    live_.shrink_to_fit();
}

bool StatSlots::live(std::uint32_t id) const {
    const std::uint32_t i = routing::stat_index(id);
    return id != routing::no_stat && i < live_.size() && live_[i] == id;
}

StatSlots::Slot* StatSlots::slot(std::uint32_t id, bool force) {
    // A request that began on an older snapshot may name a pair that is gone
    // (or whose index now belongs to another pair): not counted.
    if (!live(id)) return nullptr;
    const std::uint32_t i = routing::stat_index(id);
    if (i >= slots_.size()) slots_.resize(i + 1);
    auto& s = slots_[i];
    if (!s) {
        const std::int64_t bytes = slot_bytes();
        const auto limit = static_cast<std::int64_t>(budget_.limit.load(std::memory_order_relaxed));
        if (!force && budget_.bytes.load(std::memory_order_relaxed) + bytes > limit) return nullptr;
        budget_.bytes.fetch_add(bytes, std::memory_order_relaxed);
        budget_.slots.fetch_add(1, std::memory_order_relaxed);
        s = std::make_unique<Slot>();
        s->id = id;
    }
    return s.get();
}

bool StatSlots::record(std::uint32_t id, int status, std::chrono::nanoseconds elapsed, bool error) {
    Slot* s = slot(id, false);
    if (!s) {
        if (live(id)) budget_.dropped.fetch_add(1, std::memory_order_relaxed);
        return !live(id);  // a gone pair is not a failure to count
    }
    s->traffic.record(status, std::chrono::duration<double>(elapsed).count());
    if (s->slice) {
        if (error) ++s->slice->errors;
        else s->slice->latency.add(
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()));
    }
    return true;
}

void StatSlots::record_error(std::uint32_t id) {
    if (!live(id)) return;
    const std::uint32_t i = routing::stat_index(id);
    if (i < slots_.size() && slots_[i] && slots_[i]->slice) ++slots_[i]->slice->errors;
}

rollout::PoolSlice StatSlots::take_slice(std::uint32_t id, std::uint64_t now_ms) {
    rollout::PoolSlice out;
    // The judge's pairs always get a slot: they are few and the rollout depends on them.
    Slot* s = slot(id, true);
    if (!s) return out;
    if (!s->slice) {
        s->slice = std::make_unique<rollout::PoolSlice>();
        budget_.bytes.fetch_add(slice_bytes(), std::memory_order_relaxed);
        with_slice_.push_back(routing::stat_index(id));
    } else {
        std::swap(out, *s->slice);
    }
    s->slice_taken_ms = now_ms;
    return out;
}

void StatSlots::expire_slices(std::uint64_t now_ms) {
    std::erase_if(with_slice_, [&](std::uint32_t i) {
        if (i >= slots_.size() || !slots_[i] || !slots_[i]->slice) return true;
        if (now_ms - slots_[i]->slice_taken_ms < slice_keep_ms) return false;
        slots_[i]->slice.reset();
        budget_.bytes.fetch_sub(slice_bytes(), std::memory_order_relaxed);
        return true;
    });
}

std::vector<std::pair<std::uint32_t, telemetry::TrafficCounters>> StatSlots::traffic() const {
    std::vector<std::pair<std::uint32_t, telemetry::TrafficCounters>> out;
    for (const auto& s : slots_) {
        if (s && s->traffic.count > 0) out.emplace_back(s->id, s->traffic);
    }
    return out;
}

std::size_t StatSlots::slot_count() const {
    return static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.end(), [](const auto& s) { return !!s; }));
}

}  // namespace weir::proxy
