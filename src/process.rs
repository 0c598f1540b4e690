//! Runs a host command found on `PATH` and keeps what it said.
//!
//! Owns the one way this charm starts a subprocess: arguments never carry a secret (the token
//! goes through stdin or files), stdin is either given or `/dev/null`, and a failure keeps the
//! command line, the exit code and stderr so the error can say what went wrong.

use std::io::Write;
use std::process::{Command, Stdio};

/// How a command ended badly.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("`{program}` could not be started: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` exited with {status}: {stderr}")]
    Failed {
        command: String,
        /// The exit code, or `None` when a signal ended it.
        code: Option<i32>,
        status: String,
        stderr: String,
    },
}

/// What a command that exited 0 printed.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program args…`, feeding `stdin` when given, and fails unless it exits 0.
pub fn run(program: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<Output, ProcessError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ProcessError::Spawn {
            program: program.to_string(),
            source,
        })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A tool that exits without reading all of stdin closes the pipe; its exit status
        // below says whether that was a failure, so a write error here is not one.
        let _ = pipe.write_all(input);
    }
    let out = child.wait_with_output().map_err(|source| ProcessError::Spawn {
        program: program.to_string(),
        source,
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
    if out.status.success() {
        return Ok(Output { stdout, stderr });
    }
    Err(ProcessError::Failed {
        command: std::iter::once(program)
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" "),
        code: out.status.code(),
        status: out.status.to_string(),
        stderr,
    })
}
