//! The `tether-server` command line: the stable contract other tests and
//! scripts rely on. Only loopback traffic; 0.0.0.0 is used only to check that
//! open mode is refused before binding.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tether_proto::ServerMessage;

const BIN: &str = env!("CARGO_BIN_EXE_tether-server");

fn secret_file(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("tether-server-{}-{name}", std::process::id()));
    std::fs::write(&path, "test-secret-0123456789abcdef\n").unwrap();
    path
}

/// Spawn the server and read its one stdout line.
fn spawn(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "server did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[tokio::test]
async fn prints_the_listening_line_and_exits_on_sigterm() {
    let (mut child, line) = spawn(&["--listen", "127.0.0.1:0", "--auth", "open"]);
    let url = line.strip_suffix('\n').expect("one full line");
    let port: u16 = url
        .strip_prefix("listening on ws://127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .parse()
        .unwrap();
    assert_ne!(port, 0, "the real port is printed");
    let url = url.strip_prefix("listening on ").unwrap().to_owned();

    let mut c = Client::connect(&url).await;
    c.hello("demo", 1, None, None).await;
    c.expect_welcome().await;

    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (msgs, closed) = c.messages_then_close(SOON).await;
    assert_eq!(msgs, vec![ServerMessage::GoingAway]);
    assert_eq!(closed.code, Some(1001));
    let status = wait_exit(&mut child, Duration::from_secs(2));
    assert!(status.success(), "{status}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
    // Nothing else was printed on stdout.
    let mut rest = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut rest)
        .unwrap();
    assert_eq!(rest, "");
}

#[tokio::test]
async fn token_subcommand_issues_a_token_the_server_accepts() {
    let secret = secret_file("token");
    let out = Command::new(BIN)
        .args(["token", "--secret-file"])
        .arg(&secret)
        .args(["--channel", "demo", "--uid", "7", "--ttl", "120"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.trim_end().to_owned();
    assert_eq!(token.matches('.').count(), 2, "a JWT: {stdout:?}");
    assert_eq!(stdout.lines().count(), 1);

    let (mut child, line) = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--secret-file",
        secret.to_str().unwrap(),
    ]);
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let mut c = Client::connect(&url).await;
    c.hello("demo", 7, Some(token), None).await;
    let ServerMessage::Welcome {
        token_expires_in_ms,
        ..
    } = c.expect_welcome().await
    else {
        panic!("welcome expected")
    };
    let left = token_expires_in_ms.unwrap();
    assert!(left > 100_000 && left <= 120_000, "{left}");
    child.kill().unwrap();
    child.wait().unwrap();

    // Bad inputs fail clearly.
    for args in [
        vec!["--channel", "bad name", "--uid", "1"],
        vec!["--channel", "demo", "--uid", "0"],
    ] {
        let out = Command::new(BIN)
            .args(["token", "--secret-file"])
            .arg(&secret)
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(out.stdout.is_empty());
    }
    std::fs::remove_file(secret).unwrap();
}

fn fails(args: &[&str], says: &str) {
    let out = Command::new(BIN).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(out.stdout.is_empty(), "{args:?} printed on stdout");
    assert!(stderr.contains(says), "{args:?}: {stderr}");
}

#[test]
fn refusals_exit_non_zero_before_binding() {
    fails(
        &["--listen", "0.0.0.0:0", "--auth", "open"],
        "--allow-open-on-public",
    );
    fails(&["--listen", "127.0.0.1:0"], "--secret-file");
    fails(
        &[
            "--listen",
            "127.0.0.1:0",
            "--secret-file",
            "/nonexistent/secret",
        ],
        "secret file",
    );
    let short = std::env::temp_dir().join(format!("tether-server-{}-short", std::process::id()));
    std::fs::write(&short, "tooshort\n").unwrap();
    fails(
        &[
            "--listen",
            "127.0.0.1:0",
            "--secret-file",
            short.to_str().unwrap(),
        ],
        "at least 16 bytes",
    );
    std::fs::remove_file(short).unwrap();
}
