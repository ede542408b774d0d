//! The hub's state machine (channels, sessions, resume, presence timers,
//! the channel cap) under any order of joins, resumes, leaves, publishes,
//! mutes, renewals, detaches and time; the invariants are checked inside
//! (`tether_server::fuzzing::hub_ops`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tether_server::fuzzing::hub_ops(data);
});
