//! Delay and jitter for the signalling connection, in user space (this
//! kernel has no `netem`).
//!
//! A TCP relay runs in the **server namespace**, listens on
//! `SERVER_IP:RELAY_PORT` and forwards each accepted connection to the real
//! server on `SERVER_IP:7400`. Clients that should be delayed are given the
//! relay's URL instead of the server's. Every chunk read from either side is
//! held for `delay ± jitter` (drawn per chunk, uniform) before it is written
//! on, and chunks keep their order (a chunk is never released before the one
//! read before it), as TCP would. So exactly this traffic is delayed: the
//! WebSocket signalling of those clients, in both directions (round trip
//! ≈ 2 × delay). Their media (UDP, ICE candidates advertised by the server)
//! goes directly and is **not** delayed.
//!
//! The relay needs to be inside the namespace, and entering one needs
//! `setns`, which the harness's dependencies do not expose; so it runs as a
//! separate process: the test binary itself, started through `ip netns exec`
//! with the ignored helper test `zz_helper_delay_relay` (see
//! `tests/tests/chaos.rs`) and its parameters in environment variables. It
//! prints `RELAY READY` once it listens and dies with the test (killed on
//! drop).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::process::{read_lines, unique_path, Proc};

/// The port the relay listens on in the server namespace.
pub const RELAY_PORT: u16 = 7401;

/// The name of the helper test that runs the relay.
pub const HELPER_TEST: &str = "zz_helper_delay_relay";

const ENV_LISTEN: &str = "TETHER_RELAY_LISTEN";
const ENV_TARGET: &str = "TETHER_RELAY_TARGET";
const ENV_DELAY: &str = "TETHER_RELAY_DELAY_MS";
const ENV_JITTER: &str = "TETHER_RELAY_JITTER_MS";

/// A running relay process.
pub struct DelayRelay {
    proc: Proc,
    url: String,
    /// One-way delay of each chunk, before jitter.
    pub delay: Duration,
    /// Each chunk's delay is `delay ± jitter`.
    pub jitter: Duration,
}

impl DelayRelay {
    /// Starts the relay in `netns`, listening on `listen_ip:RELAY_PORT` and
    /// forwarding to `target` (`IP:PORT`); waits (10 s at most) until it
    /// listens.
    #[track_caller]
    pub fn start(
        netns: &str,
        listen_ip: &str,
        target: &str,
        delay: Duration,
        jitter: Duration,
        log_dir: &Path,
    ) -> DelayRelay {
        assert!(jitter <= delay, "jitter larger than the delay");
        let exe = std::env::current_exe().expect("path of the test binary");
        let listen = format!("{listen_ip}:{RELAY_PORT}");
        // The relay's parameters go in its environment, set with env(1)
        // (`ip netns exec` passes the environment on).
        let args: Vec<String> = vec![
            format!("{ENV_LISTEN}={listen}"),
            format!("{ENV_TARGET}={target}"),
            format!("{ENV_DELAY}={}", delay.as_millis()),
            format!("{ENV_JITTER}={}", jitter.as_millis()),
            exe.display().to_string(),
            HELPER_TEST.to_string(),
            "--exact".to_string(),
            "--ignored".to_string(),
            "--nocapture".to_string(),
        ];
        let env = crate::bins::find_tool("env").expect("env(1)");
        let (proc, stdout) = Proc::spawn("relay", Some(netns), &env, &args, log_dir);
        let (tx, rx) = mpsc::channel::<String>();
        read_lines(
            "relay",
            stdout,
            unique_path(log_dir, "relay", "stdout.log"),
            move |l| drop(tx.send(l.to_string())),
            || {},
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) if l.trim() == "RELAY READY" => break,
                Ok(_) => {}
                Err(e) => panic!(
                    "the delay relay did not print RELAY READY within 10 s ({e}); stderr:\n{}",
                    proc.stderr_text()
                ),
            }
        }
        DelayRelay {
            proc,
            url: format!("ws://{listen}"),
            delay,
            jitter,
        }
    }

    /// `ws://LISTEN_IP:RELAY_PORT`: give this to the clients to delay.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The relay's stderr (connection log).
    pub fn stderr_text(&self) -> String {
        self.proc.stderr_text()
    }
}

/// The relay's main: does nothing unless the relay's environment variables
/// are set (so the helper test passes trivially in a normal run).
pub fn main_from_env() {
    let (Ok(listen), Ok(target)) = (std::env::var(ENV_LISTEN), std::env::var(ENV_TARGET)) else {
        return;
    };
    let ms = |k: &str| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or_default()
    };
    let (delay, jitter) = (ms(ENV_DELAY), ms(ENV_JITTER));
    let listener =
        TcpListener::bind(&listen).unwrap_or_else(|e| panic!("relay: bind {listen}: {e}"));
    println!("RELAY READY");
    drop(std::io::stdout().flush());
    let mut n: u64 = 0;
    for conn in listener.incoming() {
        let Ok(down) = conn else { continue };
        n += 1;
        let up = match TcpStream::connect(&target) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("relay: connection {n}: connect {target}: {e}");
                continue;
            }
        };
        eprintln!(
            "relay: connection {n} from {:?} -> {target}",
            down.peer_addr().ok()
        );
        drop(down.set_nodelay(true));
        drop(up.set_nodelay(true));
        let seed = crate::unix_ms() as u64 ^ (n << 40);
        pump(&down, &up, delay, jitter, seed, format!("{n} c->s"));
        pump(
            &up,
            &down,
            delay,
            jitter,
            seed ^ 0xABCD,
            format!("{n} s->c"),
        );
    }
}

enum Chunk {
    Data(Instant, Vec<u8>),
    End(Instant),
}

/// Copies `from` → `to`, holding each chunk `delay ± jitter` and keeping
/// order: a reader thread stamps chunks, a writer thread releases them.
fn pump(
    from: &TcpStream,
    to: &TcpStream,
    delay: Duration,
    jitter: Duration,
    seed: u64,
    tag: String,
) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    let (tx, rx) = mpsc::channel::<Chunk>();
    let mut rng = super::rng::Rng::new(seed);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut last = Instant::now();
        loop {
            let read = from.read(&mut buf);
            // Held for delay ± jitter from when the data arrived, and never
            // released before the chunk read before it.
            let j = jitter.as_millis() as u64;
            let d = delay.as_millis() as u64 - j + rng.range(0, 2 * j);
            let release = (Instant::now() + Duration::from_millis(d)).max(last);
            last = release;
            match read {
                Ok(0) | Err(_) => {
                    drop(tx.send(Chunk::End(release)));
                    return;
                }
                Ok(k) => {
                    if tx.send(Chunk::Data(release, buf[..k].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        for chunk in rx {
            match chunk {
                Chunk::Data(at, data) => {
                    std::thread::sleep(at.saturating_duration_since(Instant::now()));
                    if to.write_all(&data).is_err() {
                        break;
                    }
                }
                Chunk::End(at) => {
                    std::thread::sleep(at.saturating_duration_since(Instant::now()));
                    break;
                }
            }
        }
        eprintln!("relay: {tag} closed");
        drop(to.shutdown(Shutdown::Both));
    });
}
