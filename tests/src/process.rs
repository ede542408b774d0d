//! A child process of a test: spawned (optionally inside a network namespace
//! through `ip netns exec`), its stderr written to a log file, killed on drop.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::bins::find_tool;

/// Default `RUST_LOG` for the processes under test (their logs go to files).
pub const DEFAULT_RUST_LOG: &str =
    "info,tether_server=debug,tether_client=debug,tether_core=debug,tether_cli=debug";

/// A running (or finished) child process.
pub struct Proc {
    label: String,
    child: Child,
    stderr_path: PathBuf,
    status: Option<ExitStatus>,
    /// Extra text printed when a test fails (e.g. the client's events).
    pub(crate) on_failure: Option<Box<dyn Fn() -> String + Send + Sync>>,
}

/// Builds the command line: `program args…`, or `ip netns exec NS program args…`.
pub fn command(netns: Option<&str>, program: &Path, args: &[String]) -> Command {
    let mut cmd = match netns {
        Some(ns) => {
            let ip = find_tool("ip").expect("`ip` not found (install iproute2)");
            let mut c = Command::new(ip);
            c.arg("netns").arg("exec").arg(ns).arg(program);
            c
        }
        None => Command::new(program),
    };
    cmd.args(args);
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", DEFAULT_RUST_LOG);
    }
    cmd.env("RUST_BACKTRACE", "1");
    // Plain logs in the files (tracing-subscriber honours NO_COLOR).
    cmd.env("NO_COLOR", "1");
    cmd
}

impl Proc {
    /// Spawns `program args…` (in `netns` if given) with piped stdout, stderr
    /// written to `log_dir/<label>.stderr.log`. Returns the process and its
    /// stdout for the caller to read.
    pub fn spawn(
        label: &str,
        netns: Option<&str>,
        program: &Path,
        args: &[String],
        log_dir: &Path,
    ) -> (Proc, ChildStdout) {
        let stderr_path = unique_path(log_dir, label, "stderr.log");
        let stderr = File::create(&stderr_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", stderr_path.display()));
        let mut cmd = command(netns, program, args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "{label}: cannot start {} {}: {e}",
                program.display(),
                args.join(" ")
            )
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        (
            Proc {
                label: label.to_string(),
                child,
                stderr_path,
                status: None,
                on_failure: None,
            },
            stdout,
        )
    }

    /// The label given at spawn.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (no-op once the process was reaped).
    pub fn signal(&mut self, sig: Signal) {
        if self.try_status().is_some() {
            return;
        }
        let pid = i32::try_from(self.child.id()).expect("pid fits in i32");
        if let Err(e) = kill(Pid::from_raw(pid), sig) {
            eprintln!("{}: kill({sig}) failed: {e}", self.label);
        }
    }

    /// The exit status if the process has ended.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.status = Some(st);
            }
        }
        self.status
    }

    /// Waits up to `timeout` for the process to end (polling every 10 ms).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.try_status() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) -> ExitStatus {
        if let Some(st) = self.try_status() {
            return st;
        }
        drop(self.child.kill());
        let st = self.child.wait().expect("wait after kill");
        self.status = Some(st);
        st
    }

    /// The stderr log so far.
    pub fn stderr_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(&self.stderr_path) {
            drop(f.read_to_string(&mut s));
        }
        s
    }

    /// Path of the stderr log.
    pub fn stderr_path(&self) -> &Path {
        &self.stderr_path
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let running = self.try_status().is_none();
        if running {
            self.kill9();
        }
        if std::thread::panicking() {
            let status = match (running, self.status) {
                (true, _) => "was still running (killed by the harness)".to_string(),
                (false, Some(st)) => format!("had exited: {st}"),
                (false, None) => "unknown".to_string(),
            };
            let mut text = format!(
                "\n===== {} (pid {}) {status} =====\n",
                self.label,
                self.pid()
            );
            if let Some(f) = &self.on_failure {
                text.push_str(&f());
            }
            let stderr = self.stderr_text();
            let lines: Vec<&str> = stderr.lines().collect();
            let tail = lines.len().saturating_sub(80);
            text.push_str(&format!(
                "----- {} stderr ({} lines, last {} shown; full log {}) -----\n",
                self.label,
                lines.len(),
                lines.len() - tail,
                self.stderr_path.display()
            ));
            for l in &lines[tail..] {
                text.push_str(l);
                text.push('\n');
            }
            eprint!("{text}");
        }
    }
}

/// Reads `stdout` line by line on a background thread, calling `on_line` for
/// each, then `on_end`; every line is also appended to `copy`.
pub fn read_lines(
    label: &str,
    stdout: ChildStdout,
    copy: PathBuf,
    on_line: impl Fn(&str) + Send + 'static,
    on_end: impl FnOnce() + Send + 'static,
) {
    std::thread::Builder::new()
        .name(format!("{label}-stdout"))
        .spawn(move || {
            use std::io::Write as _;
            let mut file = File::create(&copy).ok();
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if let Some(f) = file.as_mut() {
                            drop(f.write_all(line.as_bytes()));
                        }
                        on_line(line.trim_end_matches(['\n', '\r']));
                    }
                }
            }
            on_end();
        })
        .expect("spawn reader thread");
}

/// `dir/label.ext`, or `dir/label-2.ext`, … if taken.
pub fn unique_path(dir: &Path, label: &str, ext: &str) -> PathBuf {
    let first = dir.join(format!("{label}.{ext}"));
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|n| dir.join(format!("{label}-{n}.{ext}")))
        .find(|p| !p.exists())
        .expect("some free name")
}

/// CPU time (user + system) process `pid` has used so far, from
/// `/proc/PID/stat` (Linux; `USER_HZ` is 100 on every Linux ABI). `None` when
/// it cannot be read.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid …": comm may contain spaces; fields after the
    // last ')' start at field 3 (state); utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}
