//! Exit codes, in one place:
//! - 0: success;
//! - 1: the operation failed (a build failed, a daemon already runs, a restart did not become
//!   ready, an internal error);
//! - 2: invalid input — arguments, the manifest, or a request the daemon rejected; nothing
//!   was changed;
//! - 3: no daemon answers at the API address;
//! - `pier run` exits with its command's exit code instead.

use std::process::ExitCode;

/// An error that carries its exit code and a message already worded for the user.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

impl Exit {
    pub fn failed(message: impl Into<String>) -> anyhow::Error {
        Exit {
            code: 1,
            message: message.into(),
        }
        .into()
    }

    pub fn invalid(message: impl Into<String>) -> anyhow::Error {
        Exit {
            code: 2,
            message: message.into(),
        }
        .into()
    }

    /// Exit with `code` and print nothing: `pier run` passes on its command's exit code.
    pub fn silent(code: u8) -> anyhow::Error {
        Exit {
            code,
            message: String::new(),
        }
        .into()
    }

    pub fn unreachable(message: impl Into<String>) -> anyhow::Error {
        Exit {
            code: 3,
            message: message.into(),
        }
        .into()
    }
}

/// Prints the error (if any) and turns it into the process exit code.
pub fn report(result: anyhow::Result<()>) -> ExitCode {
    let Err(error) = result else {
        return ExitCode::SUCCESS;
    };
    let code = error.downcast_ref::<Exit>().map_or(1, |e| e.code);
    if error
        .downcast_ref::<Exit>()
        .is_none_or(|e| !e.message.is_empty())
    {
        eprintln!("error: {error:#}");
    }
    ExitCode::from(code)
}
