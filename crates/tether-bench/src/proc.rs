//! A `tether-server` process (optionally pinned with `taskset`), and reading
//! its CPU time and memory from /proc.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};

pub struct ServerProc {
    child: Child,
    pub pid: u32,
    pub url: String,
    pub binary: PathBuf,
}

/// The `tether-server` next to this binary (same profile), or `TETHER_SERVER_BIN`.
pub fn server_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("TETHER_SERVER_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow!("no parent of {}", exe.display()))?;
    let bin = dir.join("tether-server");
    if !bin.is_file() {
        bail!(
            "{} not found: build it with the same profile as tether-bench \
             (`cargo build [--release] -p tether-server`)",
            bin.display()
        );
    }
    Ok(bin)
}

impl ServerProc {
    /// Start it on a free loopback port; `cpu`: pin it with `taskset -c`.
    pub fn start(cpu: Option<usize>) -> anyhow::Result<Self> {
        let binary = server_binary()?;
        let mut cmd = match cpu {
            Some(c) => {
                let mut cmd = Command::new("taskset");
                cmd.args(["-c", &c.to_string()]).arg(&binary);
                cmd
            }
            None => Command::new(&binary),
        };
        // Every participant comes from 127.0.0.1: lift the per-address cap.
        cmd.args(["--listen", "127.0.0.1:0", "--auth", "open"])
            .args(["--max-connections-per-ip", "100000"])
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            if reader.read_line(&mut line).is_ok() {
                let _sent = tx.send(line.trim_end().to_owned());
            }
            // Keep draining (until EOF or an error) so the server never
            // blocks on a full pipe.
            let _drained = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = rx
            .recv_timeout(Duration::from_secs(15))
            .map_err(|_| anyhow!("tether-server printed no listening line"))?;
        let url = line
            .strip_prefix("listening on ")
            .ok_or_else(|| anyhow!("unexpected first line {line:?}"))?
            .to_owned();
        Ok(Self {
            child,
            pid,
            url,
            binary,
        })
    }

    /// Resident set size, KiB.
    pub fn rss_kib(&self) -> u64 {
        status_kib(self.pid, "VmRSS:").unwrap_or(0)
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.pid).unwrap_or(0));
        let _signalled = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..40 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _killed = self.child.kill();
        let _reaped = self.child.wait();
    }
}

fn clock_ticks() -> f64 {
    // sysconf(_SC_CLK_TCK); 100 on every Linux this runs on.
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process (all its threads), in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name in parentheses; utime and stime are 14, 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}
