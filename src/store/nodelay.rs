//! `TCP_NODELAY` on the PostgreSQL connections.
//!
//! sqlx 0.9.0 opens its TCP sockets without `TCP_NODELAY` (earlier releases set it; the
//! fix, sqlx issue #4335, is merged upstream but not released). With Nagle's algorithm
//! on, a statement longer than one TCP segment leaves its last segment waiting for the
//! server's delayed ACK, 40 ms on Linux, while the write lock is held: a group commit's
//! array binds on loopback, almost any batch over a real network (segments of ~1.4 KB).
//! Two replicas on one PostgreSQL managed 183 alerts/s because of it (`bench/scale-load.sh`).
//!
//! sqlx does not expose its socket, so after each new connection
//! [`set_nodelay_to`] walks this process's descriptors (`/proc/self/fd`) and sets
//! `TCP_NODELAY` on every socket connected to the database server. Setting it again on
//! an older connection is harmless, and so is a descriptor closed or reused meanwhile:
//! the calls then fail (`EBADF`, `ENOTSOCK`) or meet a socket with another peer.
//! Linux only; elsewhere it does nothing.

use std::net::SocketAddr;

/// Sets `TCP_NODELAY` on every socket of this process connected to one of `servers`;
/// returns how many it set. Cost: a directory read and a system call or two per open
/// descriptor (run once per new database connection).
pub fn set_nodelay_to(servers: &[SocketAddr]) -> usize {
    sockets_to(servers).into_iter().filter(|&fd| sys::set_nodelay(fd)).count()
}

/// Whether `TCP_NODELAY` is set on every socket of this process connected to one of
/// `servers`, and how many there are (for tests and diagnostics).
pub fn nodelay_to(servers: &[SocketAddr]) -> (bool, usize) {
    let sockets = sockets_to(servers);
    (sockets.iter().all(|&fd| sys::nodelay(fd)), sockets.len())
}

/// The descriptors of this process's sockets whose peer is one of `servers`.
fn sockets_to(servers: &[SocketAddr]) -> Vec<i32> {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else { return Vec::new() };
    fds.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&fd| sys::peer(fd).is_some_and(|peer| servers.contains(&peer)))
        .collect()
}

/// Elsewhere `/proc/self/fd` does not exist and nothing is found: no-ops.
#[cfg(not(target_os = "linux"))]
mod sys {
    pub fn peer(_: i32) -> Option<std::net::SocketAddr> {
        None
    }
    pub fn set_nodelay(_: i32) -> bool {
        false
    }
    pub fn nodelay(_: i32) -> bool {
        false
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use std::mem::{size_of, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

    /// The IPv4/IPv6 peer of socket `fd`, if it is one.
    pub fn peer(fd: i32) -> Option<SocketAddr> {
        // SAFETY: getpeername writes at most `len` bytes into `storage`, which is a
        // zeroed sockaddr_storage of that size; an fd that is no socket only fails.
        let (storage, len) = unsafe {
            let mut storage: libc::sockaddr_storage = zeroed();
            let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            if libc::getpeername(fd, (&raw mut storage).cast(), &mut len) != 0 {
                return None;
            }
            (storage, len as usize)
        };
        match i32::from(storage.ss_family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the kernel wrote a sockaddr_in (family AF_INET, length checked).
                let a: libc::sockaddr_in = unsafe { *(&raw const storage).cast() };
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: the kernel wrote a sockaddr_in6 (family AF_INET6, length checked).
                let a: libc::sockaddr_in6 = unsafe { *(&raw const storage).cast() };
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(a.sin6_port), 0, a.sin6_scope_id)))
            }
            _ => None,
        }
    }

    /// Sets `TCP_NODELAY` on `fd`; false if that failed (not a TCP socket, closed).
    pub fn set_nodelay(fd: i32) -> bool {
        let on: libc::c_int = 1;
        // SAFETY: passes a pointer to a c_int and its size, as TCP_NODELAY expects.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&raw const on).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            ) == 0
        }
    }

    /// Whether `TCP_NODELAY` is set on `fd`.
    pub fn nodelay(fd: i32) -> bool {
        let mut on: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into the c_int `on`.
        let ok = unsafe { libc::getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, (&raw mut on).cast(), &mut len) };
        ok == 0 && on != 0
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn sets_nodelay_on_sockets_to_the_server_only() {
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let to_server = [std::net::TcpStream::connect(addr).unwrap(), std::net::TcpStream::connect(addr).unwrap()];
        let to_other = std::net::TcpStream::connect(other.local_addr().unwrap()).unwrap();
        assert_eq!(nodelay_to(&[addr]), (false, 2));

        assert_eq!(set_nodelay_to(&[addr]), 2);
        assert_eq!(nodelay_to(&[addr]), (true, 2));
        assert!(to_server.iter().all(|s| s.nodelay().unwrap()));
        assert!(!to_other.nodelay().unwrap(), "a socket to another address is left alone");
    }
}
