//! The built-in server: start, share with another Tether on the same port,
//! refuse a port held by something else, take over when the other one exits.

use std::net::SocketAddr;
use std::time::Duration;

use tether_app::embedded::{probe, Embedded, Mode, Probe};
use tether_client::{Client, ClientConfig, ConnectionState, EventRecord, SessionConfig};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

async fn joined(
    url: &str,
    channel: &str,
    uid: u32,
) -> (
    Client,
    tokio::sync::mpsc::UnboundedReceiver<tether_client::ClientEvent>,
) {
    let session = SessionConfig::new(channel, uid, &format!("user-{uid}")).expect("session");
    let mut config = ClientConfig::new(url, session).expect("config");
    config.network_hints = false;
    let (client, events) = Client::spawn(config);
    client.join().await.expect("join");
    tokio::time::timeout(
        Duration::from_secs(5),
        client.wait_for_state(ConnectionState::Connected),
    )
    .await
    .expect("connected in time")
    .expect("client running");
    (client, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apps_share_one_server_and_meet() {
    let port = free_port();
    let first = Embedded::new(port);
    let second = Embedded::new(port);
    let url = first.ensure().await.expect("first starts the server");
    assert_eq!(url, format!("ws://127.0.0.1:{port}"));
    assert_eq!(first.mode().await, Mode::Own { url: url.clone() });
    assert_eq!(second.ensure().await.expect("second uses it"), url);
    assert_eq!(second.mode().await, Mode::Shared { url: url.clone() });
    assert_eq!(probe(&url).await, Probe::OpenTether);

    // A client of each app in the same channel sees the other.
    let (_a, _a_events) = joined(&url, "meet", 1).await;
    let (_b, mut b_events) = joined(&url, "meet", 2).await;
    let online = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(e) = b_events.recv().await {
            if let EventRecord::PeerOnline { uid, .. } = e.record.event {
                return uid;
            }
        }
        0
    })
    .await
    .expect("peer-online in time");
    assert_eq!(online, 1);

    // The first app exits: the second takes the port over.
    first.shutdown().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        second.take_over_if_shared().await;
        if second.mode().await == (Mode::Own { url: url.clone() }) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no take-over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(probe(&url).await, Probe::OpenTether);
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_held_by_something_else_is_an_error() {
    // A plain TCP listener that never speaks WebSocket.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            if let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    drop(socket);
                });
            }
        }
    });
    let embedded = Embedded::new(addr.port());
    let err = embedded.ensure().await.expect_err("not a Tether");
    assert_eq!(
        serde_json::to_value(err.code).expect("code"),
        "EMBEDDED_SERVER"
    );
    assert!(
        err.message.contains("TETHER_EMBEDDED_PORT"),
        "{}",
        err.message
    );
    assert_eq!(embedded.mode().await, Mode::NotStarted);
    assert!(matches!(
        probe(&format!("ws://{addr}")).await,
        Probe::NotTether(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tether_that_wants_tokens_is_not_shared() {
    let secret = tether_server::Secret::from_bytes(&[7u8; 32]).expect("secret");
    let config = tether_server::ServerConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        tether_server::AuthMode::Token(secret),
    );
    let server = tether_server::Server::bind(config).await.expect("bind");
    let addr = server.local_addr();
    let handle = server.handle();
    tokio::spawn(server.run(std::future::pending()));
    let url = format!("ws://{addr}");
    assert!(matches!(probe(&url).await, Probe::Refused(why) if why.contains("INVALID_TOKEN")));
    let err = Embedded::new(addr.port())
        .ensure()
        .await
        .expect_err("needs tokens");
    assert_eq!(
        serde_json::to_value(err.code).expect("code"),
        "EMBEDDED_SERVER"
    );
    handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_server_that_cannot_prove_it_is_ours_is_not_shared() {
    // Someone else's open server squatting the port (it has no key of ours).
    let server = tether_server::Server::bind(tether_server::ServerConfig::open_loopback())
        .await
        .expect("bind");
    let addr = server.local_addr();
    let handle = server.handle();
    tokio::spawn(server.run(std::future::pending()));
    let url = format!("ws://{addr}");
    assert!(
        matches!(probe(&url).await, Probe::NotTether(why) if why.contains("prove")),
        "an unproven server is not shared"
    );
    let err = Embedded::new(addr.port())
        .ensure()
        .await
        .expect_err("not shared");
    assert!(err.message.contains("prove"), "{}", err.message);
    // A stale key file of ours does not help it either.
    let key = tether_server::new_instance_key();
    let path = tether_app::embedded::key_file(addr.port());
    std::fs::create_dir_all(path.parent().expect("folder")).expect("mkdir");
    std::fs::write(&path, key.as_bytes()).expect("write");
    assert!(matches!(probe(&url).await, Probe::NotTether(_)));
    std::fs::remove_file(&path).ok();
    handle.shutdown();
}
