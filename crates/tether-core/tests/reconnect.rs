//! Simulated-time tests of reconnection: the probe schedule, the give-up
//! deadline, resume versus rejoin, tokens and the roster.

mod sim;

use std::time::Duration;

use sim::{config, cut, live_conn, Sim};
use tether_core::{
    ConnectMode, ConnectionState as S, Input, ReconnectMode, SessionEvent, StateReason as R, Timing,
};
use tether_proto::{
    ClientMessage, Media, PeerInfo, PeerLeaveReason, PeerPresence, ServerMessage,
    StreamRemovedReason,
};

const MS: Duration = Duration::from_millis(1);

#[test]
fn probes_stay_within_bounds_and_reconnect_within_one_second_of_restore() {
    for seed in 0..20u64 {
        let mut sim = Sim::new(config().with_rng_seed(seed));
        sim.join_connected();
        cut(&mut sim);
        let cut_at = sim.now;
        sim.run_for(Duration::from_secs(60));
        assert_eq!(sim.state(), S::Connecting);
        let times = sim.connect_times(cut_at);
        assert!(times.len() > 90, "probing often: {}", times.len());
        for pair in times.windows(2) {
            let gap = pair[1].duration_since(pair[0]);
            assert!(gap <= Duration::from_millis(600), "gap {gap:?}");
            assert!(gap >= Duration::from_millis(50), "gap {gap:?}");
        }
        // Never more than the allowed number of attempts in flight.
        let connects = sim.connects.len();
        let closes = sim.closed.len();
        assert!(connects - closes <= 5 + 1, "{connects} {closes}");

        sim.net_up = true;
        let restored = sim.now;
        sim.run_for(Duration::from_secs(2));
        let back = sim.last_change_at(S::Connected).expect("reconnected");
        let took = back.duration_since(restored);
        assert!(took <= Duration::from_millis(640), "seed {seed}: {took:?}");
    }
}

#[test]
fn link_down_dials_fail_fast_and_keep_probing() {
    let mut sim = Sim::new(config());
    sim.join_connected();
    cut(&mut sim);
    sim.dial_fails_fast = true;
    let conn = live_conn(&sim);
    sim.input(Input::TransportClosed {
        conn,
        code: None,
        reason: "reset".into(),
    });
    sim.run_for(Duration::from_secs(10));
    let attempts: Vec<u32> = sim
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            SessionEvent::ReconnectAttempt { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert!(attempts.len() > 15);
    assert_eq!(attempts, (1..=attempts.len() as u32).collect::<Vec<_>>());
    // The OS says the network is back: the next attempt starts at once.
    sim.net_up = true;
    let at = sim.now;
    sim.input(Input::NetworkChanged);
    sim.run_for(Duration::from_millis(100));
    assert_eq!(
        sim.last_change_at(S::Connected)
            .map(|t| t.duration_since(at)),
        Some(40 * MS)
    );
}

#[test]
fn retry_now_skips_the_wait() {
    let mut sim = Sim::new(config());
    sim.join_connected();
    cut(&mut sim);
    sim.run_for(Duration::from_secs(8));
    sim.net_up = true;
    let at = sim.now;
    sim.input(Input::RetryNow);
    sim.run_for(Duration::from_millis(45));
    assert_eq!(
        sim.last_change_at(S::Connected)
            .map(|t| t.duration_since(at)),
        Some(40 * MS)
    );
}

#[test]
fn gives_up_at_the_deadline_and_never_retries_after() {
    let mut sim = Sim::new(config());
    sim.join_connected();
    cut(&mut sim);
    sim.run_for(Duration::from_secs(3 * 3600));
    let (t, last) = sim.events.last().cloned().expect("events");
    assert!(matches!(
        last,
        SessionEvent::ConnectionStateChanged {
            prev: S::Connecting,
            cur: S::Disconnected,
            reason: R::GaveUp,
            ..
        }
    ));
    let interrupted = sim.last_change_at(S::Connecting).expect("interrupted");
    assert_eq!(t.duration_since(interrupted), Duration::from_secs(20 * 60));
    assert!(
        sim.connect_times(t).is_empty(),
        "no attempt after giving up"
    );
    assert_eq!(sim.state(), S::Disconnected);
}

#[test]
fn give_up_deadline_is_configurable() {
    let timing = Timing {
        give_up_after: Duration::from_secs(5),
        ..Timing::default()
    };
    let mut sim = Sim::new(config().with_timing(timing));
    sim.join_connected();
    cut(&mut sim);
    sim.run_for(Duration::from_secs(30));
    let interrupted = sim.last_change_at(S::Connecting).expect("interrupted");
    let gave_up = sim.last_change_at(S::Disconnected).expect("gave up");
    assert_eq!(gave_up.duration_since(interrupted), Duration::from_secs(5));
}

#[test]
fn first_join_fails_after_the_join_timeout() {
    let mut sim = Sim::new(config());
    sim.net_up = false;
    sim.input(Input::Join);
    sim.run_for(Duration::from_secs(60));
    assert_eq!(
        sim.state_changes(),
        vec![
            (S::Disconnected, S::Connecting, R::Join),
            (S::Connecting, S::Disconnected, R::JoinFailed),
        ]
    );
    assert_eq!(
        sim.last_change_at(S::Disconnected)
            .map(|t| sim.elapsed_ms(t)),
        Some(30_000)
    );
    // No reconnect-attempt events for a first join.
    assert!(!sim
        .events
        .iter()
        .any(|(_, e)| matches!(e, SessionEvent::ReconnectAttempt { .. })));
}

#[test]
fn resume_inside_the_server_window_keeps_the_session() {
    let mut sim = Sim::new(config());
    sim.peers = vec![PeerInfo {
        uid: 2,
        name: "Bo".into(),
        presence: PeerPresence::Online,
        stream: None,
    }];
    sim.join_connected();
    sim.input(Input::Publish(Media {
        audio: true,
        video: true,
    }));
    sim.run_for(Duration::from_millis(100));
    cut(&mut sim);
    sim.run_for(Duration::from_secs(5));
    sim.net_up = true;
    sim.clear_log();
    sim.run_for(Duration::from_secs(2));
    let modes: Vec<_> = sim
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            SessionEvent::Connected { mode, .. } => Some(*mode),
            _ => None,
        })
        .collect();
    assert_eq!(modes, vec![ConnectMode::Resume]);
    // Same session, nothing re-published, no roster events.
    assert!(!sim
        .sent
        .iter()
        .any(|(_, _, m)| matches!(m, ClientMessage::Publish { .. })));
    assert!(!sim.events.iter().any(|(_, e)| matches!(
        e,
        SessionEvent::PeerOnline { .. } | SessionEvent::PeerLeave { .. }
    )));
    let hello_resume = sim.sent.iter().any(|(_, _, m)| {
        matches!(m, ClientMessage::Hello { resume: Some(r), .. } if r.session_id == "s1")
    });
    assert!(hello_resume);
}

#[test]
fn rejoin_after_the_window_republishes_and_reconciles() {
    let mut sim = Sim::new(config());
    sim.peers = vec![PeerInfo {
        uid: 2,
        name: "Bo".into(),
        presence: PeerPresence::Online,
        stream: None,
    }];
    sim.join_connected();
    sim.input(Input::Publish(Media {
        audio: true,
        video: false,
    }));
    sim.run_for(Duration::from_millis(100));
    cut(&mut sim);
    sim.run_for(Duration::from_secs(15));
    // Attempt modes switch from RESUME to REJOIN once the window has passed.
    let modes: Vec<ReconnectMode> = sim
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            SessionEvent::ReconnectAttempt { mode, .. } => Some(*mode),
            _ => None,
        })
        .collect();
    assert_eq!(modes.first(), Some(&ReconnectMode::Resume));
    assert_eq!(modes.last(), Some(&ReconnectMode::Rejoin));
    // While away, Bo left and Cy came.
    sim.peers = vec![PeerInfo {
        uid: 3,
        name: "Cy".into(),
        presence: PeerPresence::Online,
        stream: None,
    }];
    sim.departed = vec![tether_proto::DepartedPeer {
        uid: 2,
        reason: PeerLeaveReason::Quit,
    }];
    sim.net_up = true;
    sim.clear_log();
    sim.run_for(Duration::from_secs(2));
    let evs: Vec<SessionEvent> = sim
        .events
        .iter()
        .map(|(_, e)| e.clone())
        .filter(|e| !matches!(e, SessionEvent::ReconnectAttempt { .. }))
        .collect();
    assert!(matches!(
        &evs[0],
        SessionEvent::ConnectionStateChanged {
            reason: R::ReconnectSuccess,
            detail,
            ..
        } if detail.mode == Some(ReconnectMode::Rejoin)
    ));
    assert!(matches!(
        evs[1],
        SessionEvent::Connected {
            mode: ConnectMode::Rejoin,
            ..
        }
    ));
    assert_eq!(
        evs[2],
        SessionEvent::PeerLeave {
            uid: 2,
            reason: PeerLeaveReason::Quit
        }
    );
    assert_eq!(
        evs[3],
        SessionEvent::PeerOnline {
            uid: 3,
            name: "Cy".into()
        }
    );
    assert!(sim.sent.iter().any(|(_, _, m)| *m
        == ClientMessage::Publish {
            audio: true,
            video: false
        }));
    assert_eq!(
        sim.publishing,
        Some(Media {
            audio: true,
            video: false
        })
    );
}

#[test]
fn token_will_expire_and_did_expire_fire_once_and_renewal_resets() {
    let mut sim = Sim::new(config().with_token(Some("t1".into())));
    sim.auto = true;
    sim.input(Input::Join);
    sim.run_for(Duration::from_millis(25));
    // Answer the hello by hand with a token expiring in 60 s.
    let conn = live_conn(&sim);
    sim.input(Input::Message {
        conn,
        msg: ServerMessage::Welcome {
            session_id: "x".into(),
            resumed: false,
            peers: vec![],
            departed: vec![],
            publishing: None,
            session_timeout_ms: 10_000,
            token_expires_in_ms: Some(60_000),
        },
    });
    let welcomed = sim.now;
    sim.run_for(Duration::from_secs(45));
    let warned: Vec<_> = sim
        .events
        .iter()
        .filter(|(_, e)| matches!(e, SessionEvent::TokenPrivilegeWillExpire { .. }))
        .map(|(t, _)| t.duration_since(welcomed))
        .collect();
    assert_eq!(warned, vec![Duration::from_secs(30)]);
    sim.input(Input::RenewToken("t2".into()));
    assert!(sim
        .sent
        .iter()
        .any(|(_, _, m)| *m == ClientMessage::RenewToken { token: "t2".into() }));
    sim.input(Input::Message {
        conn,
        msg: ServerMessage::TokenRenewed {
            expires_in_ms: 3_600_000,
        },
    });
    sim.run_for(Duration::from_secs(60));
    assert!(!sim
        .events
        .iter()
        .any(|(_, e)| matches!(e, SessionEvent::TokenPrivilegeDidExpire)));

    // Without renewal: did-expire once at expiry.
    let mut sim = Sim::new(config());
    sim.input(Input::Join);
    sim.run_for(Duration::from_millis(25));
    let conn = live_conn(&sim);
    sim.input(Input::Message {
        conn,
        msg: ServerMessage::Welcome {
            session_id: "x".into(),
            resumed: false,
            peers: vec![],
            departed: vec![],
            publishing: None,
            session_timeout_ms: 10_000,
            token_expires_in_ms: Some(10_000),
        },
    });
    sim.run_for(Duration::from_secs(30));
    let kinds = sim
        .events
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                SessionEvent::TokenPrivilegeDidExpire
                    | SessionEvent::TokenPrivilegeWillExpire { .. }
            )
        })
        .count();
    assert_eq!(kinds, 2);
}

#[test]
fn roster_messages_become_events_and_peer_leave_removes_streams() {
    let mut sim = Sim::new(config());
    sim.join_connected();
    let conn = live_conn(&sim);
    sim.clear_log();
    for msg in [
        ServerMessage::PeerOnline {
            uid: 2,
            name: "Bo".into(),
        },
        ServerMessage::StreamAdded {
            uid: 2,
            audio: true,
            video: true,
        },
        ServerMessage::PeerReconnecting { uid: 2 },
        ServerMessage::PeerReconnected { uid: 2 },
        ServerMessage::StreamRemoved {
            uid: 2,
            reason: StreamRemovedReason::Unpublished,
        },
        ServerMessage::StreamAdded {
            uid: 2,
            audio: true,
            video: false,
        },
        ServerMessage::PeerLeave {
            uid: 2,
            reason: PeerLeaveReason::ServerTimeout,
        },
    ] {
        sim.input(Input::Message { conn, msg });
    }
    let evs: Vec<_> = sim.events.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(evs.len(), 8, "{evs:?}");
    assert_eq!(
        evs[6],
        SessionEvent::StreamRemoved {
            uid: 2,
            reason: StreamRemovedReason::PeerLeft
        }
    );
    assert_eq!(
        evs[7],
        SessionEvent::PeerLeave {
            uid: 2,
            reason: PeerLeaveReason::ServerTimeout
        }
    );
    assert!(sim.session.roster().peers().is_empty());
}

#[test]
fn publish_intent_is_sent_when_connected() {
    let mut sim = Sim::new(config());
    sim.input(Input::Publish(Media {
        audio: true,
        video: true,
    }));
    assert!(sim.sent.is_empty());
    sim.join_connected();
    assert!(sim
        .sent
        .iter()
        .any(|(_, _, m)| matches!(m, ClientMessage::Publish { .. })));
    sim.input(Input::Unpublish);
    assert_eq!(
        sim.sent.last().map(|s| s.2.clone()),
        Some(ClientMessage::Unpublish)
    );
}

#[test]
fn only_the_first_transport_up_says_hello() {
    let mut sim = Sim::new(config());
    sim.auto = false;
    sim.input(Input::Join);
    sim.run_for(Duration::from_secs(1));
    let conns: Vec<_> = sim.connects.iter().map(|(_, c)| *c).collect();
    assert!(conns.len() >= 3, "{conns:?}");
    let live: Vec<_> = conns
        .iter()
        .copied()
        .filter(|c| !sim.closed.contains(c))
        .collect();
    assert!(live.len() >= 2);
    // Two transports come up at the same moment (a network coming back).
    sim.input(Input::TransportUp { conn: live[0] });
    sim.input(Input::TransportUp { conn: live[1] });
    let hellos = sim
        .sent
        .iter()
        .filter(|(_, _, m)| matches!(m, ClientMessage::Hello { .. }))
        .count();
    assert_eq!(hellos, 1);
    assert!(sim.closed.contains(&live[1]));
}

#[test]
fn after_a_server_restart_unknown_peers_are_reconnecting_not_gone() {
    let mut sim = Sim::new(config());
    sim.peers = vec![PeerInfo {
        uid: 2,
        name: "Bo".into(),
        presence: PeerPresence::Online,
        stream: None,
    }];
    sim.join_connected();
    let conn = live_conn(&sim);
    // The server restarts: it knows nobody, and no departures.
    sim.peers = vec![];
    sim.server_heard = None;
    sim.clear_log();
    sim.input(Input::TransportClosed {
        conn,
        code: None,
        reason: "reset".into(),
    });
    sim.run_for(Duration::from_secs(1));
    let roster: Vec<_> = sim
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            SessionEvent::PeerLeave { .. }
            | SessionEvent::PeerReconnecting { .. }
            | SessionEvent::PeerReconnected { .. }
            | SessionEvent::PeerOnline { .. } => Some(e.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(roster, vec![SessionEvent::PeerReconnecting { uid: 2 }]);
    // Bo comes back within the grace: reconnected, not a new peer.
    let conn = live_conn(&sim);
    sim.clear_log();
    sim.input(Input::Message {
        conn,
        msg: ServerMessage::PeerOnline {
            uid: 2,
            name: "Bo".into(),
        },
    });
    assert_eq!(
        sim.events
            .iter()
            .map(|(_, e)| e.clone())
            .collect::<Vec<_>>(),
        vec![SessionEvent::PeerReconnected { uid: 2 }]
    );
    // Had Bo not come back, it would have left with SERVER_TIMEOUT.
    sim.peers = vec![];
    sim.input(Input::TransportClosed {
        conn,
        code: None,
        reason: "reset".into(),
    });
    sim.server_heard = None;
    sim.clear_log();
    sim.run_for(Duration::from_secs(12));
    assert!(sim.events.iter().any(|(_, e)| *e
        == SessionEvent::PeerLeave {
            uid: 2,
            reason: PeerLeaveReason::ServerTimeout
        }));
}

#[test]
fn quadratic_policy_dials_on_the_common_sfu_client_schedule() {
    // The benchmarks' baseline: one attempt in flight, attempts 0, 0.3, 1.5,
    // 4.2, 9.0 s after the first, then every 7 s.
    let mut timing = config().timing;
    timing.probe = tether_core::ProbePolicy::sfu_client_default();
    timing.max_parallel_attempts = 1;
    let mut sim = Sim::new(config().with_timing(timing));
    sim.join_connected();
    cut(&mut sim);
    let cut_at = sim.now;
    sim.run_for(Duration::from_secs(30));
    let times = sim.connect_times(cut_at);
    let first = *times.first().expect("attempts while cut");
    let offsets: Vec<u64> = times
        .iter()
        .map(|t| t.duration_since(first).as_millis() as u64)
        .collect();
    // The cut is noticed after the 3 s keepalive timeout, so 27 s remain.
    assert_eq!(offsets, [0, 300, 1500, 4200, 9000, 16_000, 23_000]);
    // One in flight: every new dial closes the one before.
    assert!(sim.connects.len() - sim.closed.len() <= 2);
}
