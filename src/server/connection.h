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

// The HTTP library listens with a backlog of 5 connections (compiled in): a
// burst of clients on a machine whose cores are busy computing overflows it,
// and their connects wait for the kernel's SYN retries (1 s, 3 s, 7 s, ...)
// until clients time out. Listening again on the bound socket of local_port
// raises the backlog to the system's maximum. Returns false when no such
// listening socket was found.
bool widen_listen_backlog(int local_port);

}  // namespace sieve::server
