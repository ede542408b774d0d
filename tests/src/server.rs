//! Starting `tether-server` and minting tokens with it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::bins::server_bin;
use crate::process::{read_lines, unique_path, Proc};

/// How long a server may take to print its listening line.
pub const START_DEADLINE: Duration = Duration::from_secs(15);

/// Authentication mode.
#[derive(Debug, Clone)]
pub enum Auth {
    /// `--auth open`.
    Open,
    /// `--auth token --secret-file FILE`.
    Token {
        /// The secret file.
        secret_file: PathBuf,
    },
}

/// How to start a server.
#[derive(Debug, Clone)]
pub struct ServerOpts {
    /// `ADDR:PORT` to listen on; `None` = a free port on 127.0.0.1.
    pub listen: Option<String>,
    /// Network namespace to run in.
    pub netns: Option<String>,
    /// Authentication mode.
    pub auth: Auth,
    /// `--peer-timeout-ms`.
    pub peer_timeout_ms: Option<u64>,
    /// More arguments.
    pub extra: Vec<String>,
}

impl ServerOpts {
    /// Open auth on a free loopback port.
    pub fn loopback_open() -> Self {
        Self {
            listen: None,
            netns: None,
            auth: Auth::Open,
            peer_timeout_ms: None,
            extra: Vec::new(),
        }
    }

    /// Token auth with `secret_file` on a free loopback port.
    pub fn loopback_token(secret_file: &Path) -> Self {
        Self {
            auth: Auth::Token {
                secret_file: secret_file.to_path_buf(),
            },
            ..Self::loopback_open()
        }
    }

    fn args(&self, listen: &str) -> Vec<String> {
        let mut a = vec!["--listen".to_string(), listen.to_string()];
        match &self.auth {
            Auth::Open => a.extend(["--auth".into(), "open".into()]),
            Auth::Token { secret_file } => a.extend([
                "--auth".into(),
                "token".into(),
                "--secret-file".into(),
                secret_file.display().to_string(),
            ]),
        }
        if let Some(ms) = self.peer_timeout_ms {
            a.extend(["--peer-timeout-ms".into(), ms.to_string()]);
        }
        a.extend(self.extra.iter().cloned());
        a
    }
}

/// A running channel server.
pub struct Server {
    opts: ServerOpts,
    listen: String,
    url: String,
    log_dir: PathBuf,
    proc: Option<Proc>,
    previous: Vec<Proc>,
    /// Starts so far (1 after `start`, 2 after one `restart`, …).
    pub generation: u32,
    /// When the last start printed its listening line.
    pub ready_at: Instant,
}

/// A free TCP port on 127.0.0.1 (bound and released; a race with another
/// process is possible but rare, and `start` retries on it).
pub fn free_loopback_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

impl Server {
    /// Starts a server and waits for `listening on ws://ADDR:PORT`.
    #[track_caller]
    pub fn start(opts: ServerOpts, log_dir: &Path) -> Server {
        let tries = if opts.listen.is_none() { 3 } else { 1 };
        let mut last_err = String::new();
        for _ in 0..tries {
            let listen = opts
                .listen
                .clone()
                .unwrap_or_else(|| format!("127.0.0.1:{}", free_loopback_port()));
            match spawn_ready(&opts, &listen, log_dir, 1) {
                Ok((proc, url)) => {
                    return Server {
                        opts,
                        listen,
                        url,
                        log_dir: log_dir.to_path_buf(),
                        proc: Some(proc),
                        previous: Vec::new(),
                        generation: 1,
                        ready_at: Instant::now(),
                    }
                }
                Err(e) => last_err = e,
            }
        }
        panic!("{last_err}");
    }

    /// `ws://ADDR:PORT` as printed by the server.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `ADDR:PORT` it listens on.
    pub fn listen_addr(&self) -> &str {
        &self.listen
    }

    /// The running process.
    pub fn proc(&mut self) -> &mut Proc {
        self.proc.as_mut().expect("server is running")
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        if let Some(p) = self.proc.as_mut() {
            p.kill9();
        }
    }

    /// SIGTERM, then wait up to `timeout` for the exit.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let p = self.proc.as_mut()?;
        p.signal(Signal::SIGTERM);
        p.wait_exit(timeout)
    }

    /// Starts the server again with the same options on the same address
    /// (kill the old one first).
    #[track_caller]
    pub fn restart(&mut self) {
        if let Some(mut old) = self.proc.take() {
            old.kill9();
            // Keep the old process (and its log) for failure reports.
            self.previous.push(old);
        }
        self.generation += 1;
        match spawn_ready(&self.opts, &self.listen, &self.log_dir, self.generation) {
            Ok((proc, url)) => {
                assert_eq!(url, self.url, "restarted server printed another url");
                self.proc = Some(proc);
                self.ready_at = Instant::now();
            }
            Err(e) => panic!("{e}"),
        }
    }

    /// The server's stderr so far.
    pub fn stderr_text(&self) -> String {
        self.proc
            .as_ref()
            .map(Proc::stderr_text)
            .unwrap_or_default()
    }
}

fn spawn_ready(
    opts: &ServerOpts,
    listen: &str,
    log_dir: &Path,
    generation: u32,
) -> Result<(Proc, String), String> {
    let label = if generation == 1 {
        "server".to_string()
    } else {
        format!("server-gen{generation}")
    };
    let args = opts.args(listen);
    let bin = server_bin();
    let (mut proc, stdout) = Proc::spawn(&label, opts.netns.as_deref(), &bin, &args, log_dir);
    let (tx, rx) = mpsc::channel::<String>();
    let copy = unique_path(log_dir, &label, "stdout.log");
    read_lines(
        &label,
        stdout,
        copy,
        move |line| {
            drop(tx.send(line.to_string()));
        },
        || {},
    );
    let expected = format!("listening on ws://{listen}");
    let deadline = Instant::now() + START_DEADLINE;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.min(Duration::from_millis(100))) {
            Ok(line) => {
                if line.trim() == expected {
                    return Ok((proc, format!("ws://{listen}")));
                }
                seen.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let st = proc.wait_exit(Duration::from_secs(2));
                return Err(format!(
                    "{label}: `{} {}` closed stdout ({st:?}) without printing `{expected}`; \
                     stdout: {seen:?}; stderr:\n{}",
                    bin.display(),
                    args.join(" "),
                    proc.stderr_text()
                ));
            }
        }
        if Instant::now() >= deadline {
            let text = proc.stderr_text();
            proc.kill9();
            return Err(format!(
                "{label}: no `{expected}` line within {START_DEADLINE:?}; stdout: {seen:?}; stderr:\n{text}"
            ));
        }
    }
}

/// Mints a token with `tether-server token`.
#[track_caller]
pub fn mint_token(
    secret_file: &Path,
    channel: &str,
    uid: u32,
    ttl_secs: Option<u64>,
    no_publish: bool,
) -> String {
    let mut cmd = Command::new(server_bin());
    cmd.arg("token")
        .arg("--secret-file")
        .arg(secret_file)
        .arg("--channel")
        .arg(channel)
        .arg("--uid")
        .arg(uid.to_string());
    if let Some(ttl) = ttl_secs {
        cmd.arg("--ttl").arg(ttl.to_string());
    }
    if no_publish {
        cmd.arg("--no-publish");
    }
    let out = cmd.output().expect("run tether-server token");
    assert!(
        out.status.success(),
        "tether-server token failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        text.split('.').count() == 3 && !text.contains(char::is_whitespace),
        "tether-server token printed something that is not a JWT: {text:?}"
    );
    text
}

/// Writes a random secret (hex, no newline) to `path`.
pub fn write_secret(path: &Path) {
    let mut bytes = [0u8; 32];
    let t = crate::unix_ms();
    let seed = u64::from(std::process::id()) ^ (t as u64).rotate_left(17);
    let mut x = seed | 1;
    for b in bytes.iter_mut() {
        // xorshift64*: the tests need distinct secrets, not secure ones.
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *b = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(path, hex).expect("write secret file");
}

/// The `exp` claim (Unix seconds) of a JWT, read without verifying it.
pub fn token_exp(token: &str) -> Option<u64> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("exp")?.as_u64()
}
