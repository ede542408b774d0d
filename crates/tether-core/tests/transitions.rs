//! Simulated-time tests of the session: every transition and reason.

mod sim;

use std::time::Duration;

use sim::{config, cut, live_conn, ServerMode, Sim};
use tether_core::{
    ConnectMode, ConnectionState as S, Input, InterruptCause, ReconnectMode, SessionError,
    SessionEvent, StateReason as R,
};
use tether_proto::{
    ClientMessage, ErrorCode, Media, PeerInfo, PeerPresence, ServerMessage, CLOSE_GOING_AWAY,
};

const MS: Duration = Duration::from_millis(1);

#[test]
fn join_emits_connecting_connected_and_connected_event() {
    let mut sim = Sim::new(config());
    sim.peers = vec![PeerInfo {
        uid: 2,
        name: "Bo".into(),
        presence: PeerPresence::Online,
        stream: Some(Media {
            audio: true,
            video: true,
        }),
    }];
    sim.join_connected();
    assert_eq!(
        sim.state_changes(),
        vec![
            (S::Disconnected, S::Connecting, R::Join),
            (S::Connecting, S::Connected, R::JoinSuccess),
        ]
    );
    let names: Vec<_> = sim.events.iter().map(|(_, e)| e.clone()).collect();
    assert!(matches!(
        names[2],
        SessionEvent::Connected {
            mode: ConnectMode::Join,
            ..
        }
    ));
    assert_eq!(
        names[3],
        SessionEvent::PeerOnline {
            uid: 2,
            name: "Bo".into()
        }
    );
    assert_eq!(
        names[4],
        SessionEvent::StreamAdded {
            uid: 2,
            audio: true,
            video: true
        }
    );
    // CONNECTED one dial plus one hello round trip after join.
    let connected_at = sim.last_change_at(S::Connected).expect("connected");
    assert_eq!(sim.elapsed_ms(connected_at), 40);
}

#[test]
fn join_twice_is_refused() {
    let mut sim = Sim::new(config());
    sim.join_connected();
    let now = sim.now;
    assert_eq!(
        sim.session.handle_input(Input::Join, now),
        Err(SessionError::AlreadyJoined(S::Connected))
    );
}

#[test]
fn keepalive_pings_every_interval_and_times_out_at_the_threshold() {
    let mut sim = Sim::new(config());
    sim.join_connected();
    sim.clear_log();
    sim.run_for(Duration::from_secs(2));
    let pings = sim
        .sent
        .iter()
        .filter(|(_, _, m)| matches!(m, ClientMessage::Ping { .. }))
        .count();
    assert_eq!(pings, 8, "one ping per 250 ms");

    // Silence from now: the last pong arrives one rtt after the last ping.
    cut(&mut sim);
    let cut_at = sim.now;
    sim.run_for(Duration::from_secs(5));
    let interrupted = sim
        .events
        .iter()
        .find_map(|(t, e)| match e {
            SessionEvent::ConnectionStateChanged {
                cur: S::Connecting,
                reason: R::Interrupted,
                detail,
                ..
            } => Some((*t, detail.clone())),
            _ => None,
        })
        .expect("interrupted");
    let (at, detail) = interrupted;
    let waited = at.duration_since(cut_at);
    assert!(
        waited <= Duration::from_secs(3),
        "dead link noticed after {waited:?}"
    );
    assert!(waited >= Duration::from_millis(2700), "{waited:?}");
    assert_eq!(detail.cause, Some(InterruptCause::KeepaliveTimeout));
    assert_eq!(detail.attempt, Some(1));
    assert_eq!(detail.mode, Some(ReconnectMode::Resume));
    assert_eq!(detail.give_up_at, Some(at + Duration::from_secs(20 * 60)));
}

#[test]
fn socket_close_interrupts_at_once_and_1001_means_server_restart() {
    for (code, cause) in [
        (None, InterruptCause::SocketClosed),
        (Some(1006), InterruptCause::SocketClosed),
        (Some(CLOSE_GOING_AWAY), InterruptCause::ServerRestart),
    ] {
        let mut sim = Sim::new(config());
        sim.join_connected();
        let conn = live_conn(&sim);
        sim.clear_log();
        sim.input(Input::TransportClosed {
            conn,
            code,
            reason: "closed".into(),
        });
        match &sim.events[0].1 {
            SessionEvent::ConnectionStateChanged {
                prev: S::Connected,
                cur: S::Connecting,
                reason: R::Interrupted,
                detail,
            } => assert_eq!(detail.cause, Some(cause)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            sim.events[1].1,
            SessionEvent::ReconnectAttempt { attempt: 1, .. }
        ));
        assert_eq!(sim.connects.len(), 1, "first attempt starts at once");
        sim.run_for(Duration::from_millis(100));
        assert_eq!(sim.state(), S::Connected);
    }
}

#[test]
fn going_away_message_means_server_restart() {
    let mut sim = Sim::new(config());
    sim.join_connected();
    let conn = live_conn(&sim);
    sim.clear_log();
    sim.input(Input::Message {
        conn,
        msg: ServerMessage::GoingAway,
    });
    assert!(matches!(
        &sim.events[0].1,
        SessionEvent::ConnectionStateChanged { detail, .. }
            if detail.cause == Some(InterruptCause::ServerRestart)
    ));
}

#[test]
fn network_hint_probes_and_interrupts_only_if_the_server_is_silent() {
    let mut sim = Sim::new(config());
    sim.join_connected();
    sim.clear_log();
    // A hint while the server still answers: a ping, no interruption.
    sim.input(Input::NetworkChanged);
    assert!(matches!(sim.sent[0].2, ClientMessage::Ping { .. }));
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.state(), S::Connected);

    // A hint when the link is really gone: interrupted 500 ms later.
    cut(&mut sim);
    let at = sim.now;
    sim.input(Input::NetworkChanged);
    sim.run_for(Duration::from_secs(1));
    let (t, cause) = sim
        .events
        .iter()
        .find_map(|(t, e)| match e {
            SessionEvent::ConnectionStateChanged { detail, .. } => Some((*t, detail.cause)),
            _ => None,
        })
        .expect("interrupted");
    assert_eq!(cause, Some(InterruptCause::NetworkChanged));
    assert_eq!(t.duration_since(at), Duration::from_millis(500));
}

#[test]
fn fatal_errors_end_at_once_without_retry() {
    for (code, reason) in [
        (ErrorCode::InvalidToken, R::InvalidToken),
        (ErrorCode::TokenExpired, R::TokenExpired),
        (ErrorCode::UidConflict, R::UidConflict),
        (ErrorCode::Kicked, R::Kicked),
        (ErrorCode::InvalidChannel, R::ServerRejected),
        (ErrorCode::VersionMismatch, R::ServerRejected),
    ] {
        // During the first join.
        let mut sim = Sim::new(config());
        sim.server = ServerMode::Refuse(code);
        sim.input(Input::Join);
        sim.run_for(Duration::from_secs(120));
        assert_eq!(
            sim.state_changes(),
            vec![
                (S::Disconnected, S::Connecting, R::Join),
                (S::Connecting, S::Disconnected, reason),
            ]
        );
        assert_eq!(sim.connects.len(), 1, "no retry loop for {code:?}");

        // While connected.
        let mut sim = Sim::new(config());
        sim.join_connected();
        let conn = live_conn(&sim);
        sim.clear_log();
        sim.input(Input::Message {
            conn,
            msg: ServerMessage::Error {
                code,
                message: "m".into(),
                fatal: true,
            },
        });
        sim.run_for(Duration::from_secs(120));
        assert_eq!(
            sim.state_changes(),
            vec![(S::Connected, S::Disconnected, reason)]
        );
        assert!(sim.connects.is_empty());

        // While reconnecting.
        let mut sim = Sim::new(config());
        sim.join_connected();
        cut(&mut sim);
        sim.run_for(Duration::from_secs(4));
        sim.server = ServerMode::Refuse(code);
        sim.net_up = true;
        sim.run_for(Duration::from_secs(1));
        assert_eq!(sim.state(), S::Disconnected);
        let end = sim.last_change_at(S::Disconnected).expect("ended");
        assert!(sim.connect_times(end + MS).is_empty());
    }
}

#[test]
fn non_fatal_errors_become_exceptions() {
    let mut sim = Sim::new(config());
    sim.join_connected();
    let conn = live_conn(&sim);
    sim.clear_log();
    sim.input(Input::Message {
        conn,
        msg: ServerMessage::Error {
            code: ErrorCode::RateLimited,
            message: "slow down".into(),
            fatal: false,
        },
    });
    assert_eq!(
        sim.events[0].1,
        SessionEvent::Exception {
            code: "RATE_LIMITED".into(),
            message: "slow down".into()
        }
    );
    assert_eq!(sim.state(), S::Connected);
}

#[test]
fn leave_while_connected_waits_for_bye() {
    let mut sim = Sim::new(config());
    sim.join_connected();
    sim.clear_log();
    sim.input(Input::Leave);
    assert_eq!(sim.sent[0].2, ClientMessage::Leave);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(
        sim.state_changes(),
        vec![
            (S::Connected, S::Disconnecting, R::Leave),
            (S::Disconnecting, S::Disconnected, R::Leave),
        ]
    );
    let t = sim.last_change_at(S::Disconnected).expect("left");
    let t0 = sim.last_change_at(S::Disconnecting).expect("leaving");
    assert_eq!(t.duration_since(t0), sim.rtt, "ends on the bye");
}

#[test]
fn leave_without_bye_ends_after_the_leave_timeout() {
    let mut sim = Sim::new(config());
    sim.join_connected();
    cut(&mut sim);
    sim.clear_log();
    sim.input(Input::Leave);
    sim.run_for(Duration::from_secs(5));
    let t0 = sim.last_change_at(S::Disconnecting).expect("leaving");
    let t = sim.last_change_at(S::Disconnected).expect("left");
    assert_eq!(t.duration_since(t0), Duration::from_secs(1));
}

#[test]
fn leave_during_reconnect_stops_reconnecting() {
    let mut sim = Sim::new(config());
    sim.join_connected();
    cut(&mut sim);
    sim.run_for(Duration::from_secs(5));
    sim.clear_log();
    sim.input(Input::Leave);
    sim.net_up = true;
    sim.run_for(Duration::from_secs(60));
    assert_eq!(
        sim.state_changes(),
        vec![
            (S::Connecting, S::Disconnecting, R::Leave),
            (S::Disconnecting, S::Disconnected, R::Leave),
        ]
    );
    assert!(sim.connects.is_empty(), "no attempt after leave");
    assert_eq!(sim.state(), S::Disconnected);
}

#[test]
fn a_session_can_join_again_after_leaving() {
    let mut sim = Sim::new(config());
    sim.join_connected();
    sim.input(Input::Leave);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.state(), S::Disconnected);
    sim.join_connected();
}

#[test]
fn stale_connections_are_closed_and_ignored() {
    let mut sim = Sim::new(config());
    sim.join_connected();
    let live = live_conn(&sim);
    sim.clear_log();
    let stale = tether_core::ConnId(9999);
    sim.input(Input::TransportUp { conn: stale });
    assert_eq!(sim.closed, vec![stale]);
    sim.input(Input::TransportClosed {
        conn: stale,
        code: None,
        reason: "x".into(),
    });
    sim.input(Input::Message {
        conn: stale,
        msg: ServerMessage::GoingAway,
    });
    assert!(sim.events.is_empty());
    assert_eq!(sim.state(), S::Connected);
    assert_ne!(live, stale);
}

#[test]
fn a_message_already_in_flight_does_not_cancel_the_hint_probe() {
    let mut sim = Sim::new(config());
    sim.join_connected();
    let conn = live_conn(&sim);
    cut(&mut sim);
    sim.clear_log();
    let at = sim.now;
    sim.input(Input::NetworkChanged);
    // A roster message sent before the link went down arrives now.
    sim.input(Input::Message {
        conn,
        msg: ServerMessage::PeerOnline {
            uid: 5,
            name: "Ed".into(),
        },
    });
    // And a pong for an earlier ping.
    sim.input(Input::Message {
        conn,
        msg: ServerMessage::Pong { seq: 0 },
    });
    sim.run_for(Duration::from_secs(1));
    let (t, cause) = sim
        .events
        .iter()
        .find_map(|(t, e)| match e {
            SessionEvent::ConnectionStateChanged { detail, .. } => Some((*t, detail.cause)),
            _ => None,
        })
        .expect("interrupted");
    assert_eq!(cause, Some(InterruptCause::NetworkChanged));
    assert_eq!(t.duration_since(at), Duration::from_millis(500));
}
