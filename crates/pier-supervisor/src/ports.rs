//! Allocation of `$PORT` values from a configured range. A port is handed out only if nothing
//! on the machine is bound to it at that moment and no allocator of this process has handed it
//! out already (the supervisors of one daemon — its main environment and its staging
//! environments — share that record, so a replica that has not bound its port yet never
//! loses it to another's); the search starts at a random offset so that two pier daemons
//! sharing a range rarely race for the same port.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Ports handed out and not released yet, by every allocator of this process.
static TAKEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

fn taken() -> std::sync::MutexGuard<'static, BTreeSet<u16>> {
    TAKEN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Hands out free ports in `lo..=hi`.
#[derive(Debug)]
pub struct PortAllocator {
    lo: u16,
    hi: u16,
    /// What this allocator handed out; given back to the others when it is dropped.
    mine: BTreeSet<u16>,
}

impl Drop for PortAllocator {
    fn drop(&mut self) {
        let mut taken = taken();
        for port in &self.mine {
            taken.remove(port);
        }
    }
}

impl PortAllocator {
    pub fn new((lo, hi): (u16, u16)) -> Self {
        PortAllocator {
            lo: lo.min(hi),
            hi: hi.max(lo),
            mine: BTreeSet::new(),
        }
    }

    /// A free port, or `None` when every port of the range is in use.
    pub fn allocate(&mut self) -> Option<u16> {
        let span = u32::from(self.hi - self.lo) + 1;
        let start = random_offset() % span;
        let mut taken = taken();
        (0..span)
            .map(|i| self.lo + ((start + i) % span) as u16)
            .find(|&port| !taken.contains(&port) && is_free(port))
            .inspect(|&port| {
                taken.insert(port);
                self.mine.insert(port);
            })
    }

    /// Takes `port` back if it is still free (a restarted replica keeps its port), else `false`.
    pub fn reclaim(&mut self, port: u16) -> bool {
        is_free(port)
    }

    /// Returns a port to the pool.
    pub fn release(&mut self, port: u16) {
        if self.mine.remove(&port) {
            taken().remove(&port);
        }
    }
}

fn is_free(port: u16) -> bool {
    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).is_ok()
}

fn random_offset() -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id().rotate_left(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_hands_out_a_port_twice_or_a_bound_one() {
        let holder = TcpListener::bind("127.0.0.1:0").unwrap();
        let bound = holder.local_addr().unwrap().port();
        let mut ports = PortAllocator::new((bound, bound.saturating_add(3)));
        let mut got: Vec<u16> = std::iter::from_fn(|| ports.allocate()).collect();
        got.sort();
        assert!(!got.contains(&bound));
        got.dedup();
        assert!(got.len() <= 3);
        assert_eq!(ports.allocate(), None);
    }

    #[test]
    fn allocators_of_one_process_share_what_they_handed_out() {
        let holder = TcpListener::bind("127.0.0.1:0").unwrap();
        let lo = holder.local_addr().unwrap().port().saturating_add(1);
        let range = (lo, lo.saturating_add(5));
        let mut main = PortAllocator::new(range);
        let mut stage = PortAllocator::new(range);
        let mine: Vec<u16> = std::iter::from_fn(|| main.allocate()).collect();
        let theirs: Vec<u16> = std::iter::from_fn(|| stage.allocate()).collect();
        assert!(!mine.is_empty());
        assert!(
            mine.iter().all(|p| !theirs.contains(p)),
            "{mine:?} {theirs:?}"
        );
        // Dropping an allocator gives its ports back to the others (those still free).
        drop(main);
        let again: Vec<u16> = std::iter::from_fn(|| stage.allocate()).collect();
        assert!(again.iter().any(|p| mine.contains(p)), "{again:?} {mine:?}");
    }
}
