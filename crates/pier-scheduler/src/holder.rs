//! Who a scheduler is, for the lease: the machine's boot id, the process id and its start time
//! (which together name one process on one machine, even after pid reuse), and a nonce for two
//! schedulers in one process. A lease held by a process of this boot that no longer exists can
//! be taken over at once instead of after it expires — that is what a `kill -9`ed daemon
//! leaves behind.

use std::fs;

/// This scheduler's identity in the lease.
pub fn this_process(nonce: &str) -> String {
    let pid = std::process::id();
    format!(
        "{}/{pid}/{}/{nonce}",
        boot_id(),
        process_start(pid).unwrap_or_default()
    )
}

/// Whether `holder` is certainly dead: a process of this boot whose pid is gone or now
/// belongs to a different process. Holders on other machines (or boots, or written by
/// something else) are never declared dead; their lease must expire.
pub fn is_dead(holder: &str) -> bool {
    let mut parts = holder.split('/');
    let (Some(boot), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if boot.is_empty() || boot != boot_id() {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    match process_start(pid) {
        None => true,
        Some(now_start) => now_start != start,
    }
}

/// The start time of a live process (zombies, which have exited but not been reaped by their
/// parent yet, count as gone), in clock ticks since boot (field 22 of `/proc/PID/stat`).
fn process_start(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18).map(str::to_string)
}

fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_gone_pid_is_dead() {
        let me = this_process("a");
        assert!(!is_dead(&me), "{me}");
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let pid = child.id();
        let holder = format!("{}/{pid}/{}/x", boot_id(), process_start(pid).unwrap());
        assert!(!is_dead(&holder), "{holder}");
        child.kill().unwrap();
        // Killed but not reaped yet: a zombie is dead.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !is_dead(&holder) {
            assert!(std::time::Instant::now() < deadline, "{holder} never dead");
            std::thread::yield_now();
        }
        child.wait().unwrap();
        assert!(is_dead(&holder), "{holder}");
        assert!(!is_dead("other-boot/1/1/x"));
        assert!(!is_dead("garbage"));
    }
}
