//! The sans-IO heart of a Tether client.
//!
//! [`Session`] owns the connection state (SPEC §2), the reconnect policy, the
//! keepalive rules and the remote roster. It never touches a socket, a clock or
//! a random source: the caller feeds it [`Input`]s stamped with `now` and
//! drains [`Output`]s — connections to open, messages to send, connections to
//! close, [`SessionEvent`]s, and the next instant it wants to be woken at.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tether_core::{Input, Output, Session, SessionConfig};
//!
//! let config = SessionConfig::new("demo", 1, "Ann").unwrap();
//! let mut session = Session::new(config, Instant::now());
//! let now = Instant::now();
//! session.handle_input(Input::Join, now).unwrap();
//! loop {
//!     match session.poll_output() {
//!         Output::Connect { conn } => { /* open a WebSocket for `conn` */ }
//!         Output::Transmit { conn, msg } => { /* send `msg` on `conn` */ }
//!         Output::Close { conn } => { /* drop `conn` */ }
//!         Output::Event(event) => { /* tell the user */ }
//!         Output::Timeout(_) | Output::Idle => break,
//!         _ => {}
//!     }
//! }
//! ```

mod config;
mod event;
mod policy;
mod roster;
mod session;
mod state;

pub use config::{Growth, ProbePolicy, SessionConfig, Timing};
pub use event::{ConnectMode, SessionEvent};
pub use policy::probe_delay;
pub use roster::{Flow, Peer, Roster};
pub use session::{ConnId, Input, Output, Session, SessionError};
pub use state::{
    is_legal_transition, ConnectionState, InterruptCause, ReconnectMode, StateDetail, StateReason,
};
