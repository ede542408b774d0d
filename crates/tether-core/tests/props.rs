//! Property test: whatever happens, in whatever order, the session makes only
//! legal transitions, emits each event once, and never dials when it should not.

mod sim;

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use sim::{config, ServerMode, Sim};
use tether_core::{
    is_legal_transition, ConnectionState as S, Input, InterruptCause, Output, SessionEvent,
};
use tether_proto::{ErrorCode, Media, PeerLeaveReason, ServerMessage, StreamRemovedReason};

#[derive(Debug, Clone)]
enum Op {
    Join,
    Leave,
    Publish,
    Unpublish,
    RetryNow,
    NetworkChanged,
    IceFailed,
    Advance(u64),
    NetDown { fast: bool },
    NetUp,
    Refuse(usize),
    Accept,
    CloseLive,
    Roster(u32, u8),
    Media(u32),
    Subscribed(u32),
}

const CODES: [ErrorCode; 6] = [
    ErrorCode::InvalidToken,
    ErrorCode::TokenExpired,
    ErrorCode::UidConflict,
    ErrorCode::Kicked,
    ErrorCode::InvalidChannel,
    ErrorCode::ServerBusy,
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Join),
        1 => Just(Op::Leave),
        1 => Just(Op::Publish),
        1 => Just(Op::Unpublish),
        1 => Just(Op::RetryNow),
        1 => Just(Op::NetworkChanged),
        1 => Just(Op::IceFailed),
        6 => (0u64..20_000).prop_map(Op::Advance),
        2 => any::<bool>().prop_map(|fast| Op::NetDown { fast }),
        2 => Just(Op::NetUp),
        1 => (0..CODES.len()).prop_map(Op::Refuse),
        2 => Just(Op::Accept),
        1 => Just(Op::CloseLive),
        4 => (2u32..5, 0u8..9).prop_map(|(u, k)| Op::Roster(u, k)),
        3 => (2u32..5).prop_map(Op::Media),
        1 => (2u32..5).prop_map(Op::Subscribed),
    ]
}

fn roster_msg(uid: u32, kind: u8) -> ServerMessage {
    match kind {
        0 => ServerMessage::PeerOnline {
            uid,
            name: format!("p{uid}"),
        },
        1 => ServerMessage::PeerLeave {
            uid,
            reason: PeerLeaveReason::ServerTimeout,
        },
        2 => ServerMessage::PeerReconnecting { uid },
        3 => ServerMessage::PeerReconnected { uid },
        4 => ServerMessage::StreamAdded {
            uid,
            audio: true,
            video: uid % 2 == 0,
        },
        5 => ServerMessage::StreamRemoved {
            uid,
            reason: StreamRemovedReason::Unpublished,
        },
        6 => ServerMessage::MuteChanged {
            uid,
            audio: true,
            video: uid % 2 == 0,
        },
        7 => ServerMessage::MuteChanged {
            uid,
            audio: false,
            video: false,
        },
        _ => ServerMessage::GoingAway,
    }
}

fn apply(sim: &mut Sim, op: &Op) {
    let now = sim.now;
    match op {
        Op::Join => {
            // Refused unless disconnected; either way nothing may break.
            let _refused = sim.session.handle_input(Input::Join, now);
            sim.drain();
        }
        Op::Leave => sim.input(Input::Leave),
        Op::Publish => sim.input(Input::Publish(Media {
            audio: true,
            video: true,
        })),
        Op::Unpublish => sim.input(Input::Unpublish),
        Op::RetryNow => sim.input(Input::RetryNow),
        Op::NetworkChanged => sim.input(Input::NetworkChanged),
        Op::IceFailed => sim.input(Input::Interrupt {
            cause: InterruptCause::IceFailed,
        }),
        Op::Advance(ms) => sim.run_for(Duration::from_millis(*ms)),
        Op::Media(uid) => sim.input(Input::MediaActivity { uid: *uid }),
        Op::Subscribed(uid) => sim.input(Input::StreamSubscribed { uid: *uid }),
        Op::NetDown { fast } => {
            sim.net_up = false;
            sim.dial_fails_fast = *fast;
        }
        Op::NetUp => sim.net_up = true,
        Op::Refuse(i) => sim.server = ServerMode::Refuse(CODES[*i]),
        Op::Accept => sim.server = ServerMode::Accept,
        Op::CloseLive | Op::Roster(..) => {
            let live = sim.outputs.iter().rev().find_map(|o| match o {
                Output::Transmit { conn, .. } => Some(*conn),
                _ => None,
            });
            if let Some(conn) = live {
                let input = match op {
                    Op::CloseLive => Input::TransportClosed {
                        conn,
                        code: None,
                        reason: "reset".into(),
                    },
                    Op::Roster(uid, kind) => Input::Message {
                        conn,
                        msg: roster_msg(*uid, *kind),
                    },
                    _ => return,
                };
                sim.input(input);
            }
        }
    }
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
struct Shadow {
    reconnecting: bool,
    stream: Option<Media>,
    subscribed: bool,
}

fn check(sim: &Sim) -> Result<(), TestCaseError> {
    let mut state = S::Disconnected;
    let mut roster: BTreeMap<u32, Shadow> = BTreeMap::new();
    let mut just_connected = false;
    for out in &sim.outputs {
        match out {
            Output::Connect { .. } => {
                prop_assert_eq!(state, S::Connecting, "dialled while {:?}", state);
            }
            Output::Event(e) => {
                if !matches!(e, SessionEvent::ConnectionStateChanged { .. }) {
                    prop_assert!(state != S::Disconnected, "{:?} while disconnected", e);
                }
                match e {
                    SessionEvent::ConnectionStateChanged {
                        prev, cur, reason, ..
                    } => {
                        prop_assert_eq!(*prev, state);
                        prop_assert!(prev != cur);
                        prop_assert!(
                            is_legal_transition(*prev, *cur, *reason),
                            "{:?} -> {:?} ({:?})",
                            prev,
                            cur,
                            reason
                        );
                        state = *cur;
                        just_connected = *cur == S::Connected;
                        if *cur == S::Disconnected {
                            roster.clear();
                        }
                        continue;
                    }
                    SessionEvent::Connected { .. } => {
                        prop_assert!(just_connected, "connected without the state change");
                    }
                    SessionEvent::ReconnectAttempt { .. } => {
                        prop_assert_eq!(state, S::Connecting);
                    }
                    SessionEvent::PeerOnline { uid, .. } => {
                        prop_assert!(roster.insert(*uid, Shadow::default()).is_none());
                    }
                    SessionEvent::PeerLeave { uid, .. } => {
                        let peer = roster.remove(uid);
                        prop_assert!(peer.is_some(), "leave of unknown {}", uid);
                        prop_assert!(peer.and_then(|p| p.stream).is_none());
                    }
                    SessionEvent::PeerReconnecting { uid } => {
                        let p = roster.get_mut(uid);
                        prop_assert!(p.as_ref().is_some_and(|p| !p.reconnecting));
                        if let Some(p) = p {
                            p.reconnecting = true;
                        }
                    }
                    SessionEvent::PeerReconnected { uid } => {
                        let p = roster.get_mut(uid);
                        prop_assert!(p.as_ref().is_some_and(|p| p.reconnecting));
                        if let Some(p) = p {
                            p.reconnecting = false;
                        }
                    }
                    SessionEvent::StreamSubscribed { uid } => {
                        let p = roster.get_mut(uid);
                        prop_assert!(
                            p.as_ref()
                                .is_some_and(|p| p.stream.is_some() && !p.subscribed),
                            "subscribed to an invisible or already subscribed stream"
                        );
                        if let Some(p) = p {
                            p.subscribed = true;
                        }
                    }
                    SessionEvent::StreamAdded { uid, audio, video } => {
                        let media = Some(Media {
                            audio: *audio,
                            video: *video,
                        });
                        let p = roster.get_mut(uid);
                        prop_assert!(p.as_ref().is_some_and(|p| p.stream != media));
                        if let Some(p) = p {
                            if p.stream.is_none() {
                                p.subscribed = false;
                            }
                            p.stream = media;
                        }
                    }
                    SessionEvent::StreamRemoved { uid, .. } => {
                        let p = roster.get_mut(uid);
                        prop_assert!(p.as_ref().is_some_and(|p| p.stream.is_some()));
                        if let Some(p) = p {
                            p.stream = None;
                            p.subscribed = false;
                        }
                    }
                    _ => {}
                }
                just_connected = false;
            }
            _ => {}
        }
    }
    prop_assert_eq!(state, sim.state());
    let known: Vec<u32> = sim.session.roster().peers().keys().copied().collect();
    let shadow: Vec<u32> = roster.keys().copied().collect();
    prop_assert_eq!(known, shadow);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_input_sequence_keeps_the_state_machine_honest(
        seed in any::<u64>(),
        gating in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let mut sim = Sim::new(config().with_rng_seed(seed).with_media_gating(gating));
        for op in &ops {
            apply(&mut sim, op);
        }
        // Whatever happened, the session settles: it never hangs in CONNECTING.
        sim.net_up = true;
        sim.server = ServerMode::Accept;
        sim.run_for(Duration::from_secs(25 * 60));
        prop_assert!(matches!(sim.state(), S::Connected | S::Disconnected));
        check(&sim)?;
    }
}
