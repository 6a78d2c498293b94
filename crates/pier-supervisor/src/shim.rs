//! The process shim: a tiny supervisor-of-one that pier runs (as `pier __shim -- CMD…`) around
//! every child so that no process can outlive pier.
//!
//! The shim starts the command in a new process group and becomes a child subreaper, so orphaned
//! descendants are reparented to it. Its stdin is a control pipe from pier: `t` forwards SIGTERM
//! to the group, `k` kills everything, and end-of-file — which the kernel delivers when pier
//! exits for any reason, `kill -9` included — kills everything too. When the command exits, the
//! shim kills whatever the command left behind, reaps it, and exits with the command's status
//! (dying by the same signal when the command was killed by one).
//!
//! It is synchronous, uses no async runtime, and knows nothing else of pier.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

/// The hidden subcommand under which the pier binary runs the shim.
pub const SUBCOMMAND: &str = "__shim";

/// Control byte: forward SIGTERM to the command's process group.
pub const CONTROL_TERMINATE: u8 = b't';
/// Control byte: SIGKILL the process group and every descendant.
pub const CONTROL_KILL: u8 = b'k';

/// Runs `argv` under the shim and returns the exit code the shim process should exit with.
pub fn run(argv: &[OsString]) -> i32 {
    let Some((program, args)) = argv.split_first() else {
        eprintln!("pier shim: no command given");
        return 127;
    };
    // Subreaper: descendants that daemonise are reparented to us, not to init.
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let app = Arc::new(AtomicI32::new(0));
    forward_signals(app.clone());

    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .process_group(0)
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(error) => {
            eprintln!("pier: cannot start {}: {error}", program.to_string_lossy());
            return 127;
        }
    };
    let app_pid = Pid::from_raw(child.id() as i32);
    app.store(app_pid.as_raw(), Ordering::SeqCst);
    watch_control_pipe(app_pid);

    let status = reap_until_exit(app_pid);
    kill_everything(app_pid);
    reap_all(app_pid);
    exit_code(status)
}

/// Forwards termination-type signals sent to the shim to the command's process group.
fn forward_signals(app: Arc<AtomicI32>) {
    let Ok(mut signals) = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2]) else {
        return;
    };
    std::thread::spawn(move || {
        for raw in signals.forever() {
            let pid = app.load(Ordering::SeqCst);
            if let (true, Ok(signal)) = (pid > 0, Signal::try_from(raw)) {
                let _ = killpg(Pid::from_raw(pid), signal);
            }
        }
    });
}

/// Reads control bytes from stdin; end-of-file means pier is gone.
fn watch_control_pipe(app: Pid) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 64];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => return kill_everything(app),
                Ok(n) => {
                    for &byte in &buf[..n] {
                        match byte {
                            CONTROL_TERMINATE => {
                                let _ = killpg(app, Signal::SIGTERM);
                            }
                            CONTROL_KILL => kill_everything(app),
                            _ => {}
                        }
                    }
                }
            }
        }
    });
}

/// Waits for the command itself, reaping any reparented orphans on the way.
fn reap_until_exit(app: Pid) -> WaitStatus {
    loop {
        match waitpid(None, None) {
            Ok(status) if status.pid() == Some(app) => return status,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => return WaitStatus::Exited(app, 127),
        }
    }
}

/// Kills leftovers until the shim has no child at all.
fn reap_all(app: Pid) {
    loop {
        match waitpid(None, None) {
            Err(Errno::ECHILD) => return,
            Err(Errno::EINTR) | Ok(_) => kill_everything(app),
            Err(_) => return,
        }
    }
}

/// SIGKILLs the command's process group and every direct child of the shim (orphans that
/// left the group are reparented here because the shim is a subreaper).
fn kill_everything(app: Pid) {
    let _ = killpg(app, Signal::SIGKILL);
    for pid in own_children() {
        let _ = killpg(pid, Signal::SIGKILL);
        let _ = kill(pid, Signal::SIGKILL);
    }
}

/// The shim's children as listed by `/proc/self/task/*/children`.
fn own_children() -> Vec<Pid> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .map(Pid::from_raw)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Turns the command's wait status into the shim's exit: the same code, or death by the same
/// signal so that pier sees exactly how the command ended.
fn exit_code(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, signal, _) => {
            let _ = signal_hook::low_level::emulate_default_handler(signal as i32);
            128 + signal as i32
        }
        _ => 1,
    }
}
