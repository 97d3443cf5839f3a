#pragma once
// The HTTP library answers requests on its own threads and does not say when
// a client goes away while a handler waits for the engine. These find the
// socket a request arrived on (by its address pair, unique while the handler
// runs, because the library closes the socket only after the handler returns)
// and ask the kernel whether the peer has closed it.
#include <functional>
#include <string>

namespace sieve::server {

// Calls fn(fd) for every socket this process has open, until fn returns true.
void for_each_socket(const std::function<bool(int fd)>& fn);

// The socket whose local port is local_port and peer is remote_addr:remote_port; -1 when none.
int find_connection_socket(const std::string& remote_addr, int remote_port, int local_port);
// True when the peer closed or reset the connection (fd < 0: never).
bool peer_closed(int fd);

}  // namespace sieve::server
