// A watch started by EtcdClient::watch (see there for what it reports).
#pragma once

#include <memory>
#include <string>

namespace weir::cluster {

class WatchStream;

class EtcdWatch {
public:
    explicit EtcdWatch(std::shared_ptr<WatchStream> stream);
    ~EtcdWatch();  // cancel()
    EtcdWatch(const EtcdWatch&) = delete;
    EtcdWatch& operator=(const EtcdWatch&) = delete;

    // Stops the watch silently: neither on_events nor on_end runs afterwards.
    // Safe from inside its own callbacks, and after the client is gone.
    void cancel();
    // The URL of the endpoint it streams from (empty before it connected).
    std::string endpoint() const;
    // True once etcd confirmed the watch ("created") and until it ended.
    bool established() const;

private:
    std::shared_ptr<WatchStream> stream_;
};

}  // namespace weir::cluster
