//! Random packet loss on the client's veth (nftables `numgen`), with
//! counters of what was seen and what was dropped.

use std::process::Command;

use super::{FaultTime, NetFixture};

const LOSS_TABLE: &str = "tether_loss";

/// Which directions of the client's veth random loss applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossDirection {
    /// Packets the client namespace sends (UID 1's media, RTCP, signalling).
    Egress,
    /// Packets the client namespace receives.
    Ingress,
    /// Both.
    Both,
}

/// Packet counts of a random-loss table: every packet seen on the client's
/// veth and the ones the `numgen` rule dropped, per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LossCounters {
    /// Packets sent by the client namespace while the table was in place.
    pub egress_total: u64,
    /// Of those, dropped.
    pub egress_dropped: u64,
    /// Packets received by the client namespace while the table was in place.
    pub ingress_total: u64,
    /// Of those, dropped.
    pub ingress_dropped: u64,
}

fn pct(dropped: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        dropped as f64 * 100.0 / total as f64
    }
}

impl LossCounters {
    /// Dropped share of the egress packets, in percent.
    pub fn egress_pct(&self) -> f64 {
        pct(self.egress_dropped, self.egress_total)
    }

    /// Dropped share of the ingress packets, in percent.
    pub fn ingress_pct(&self) -> f64 {
        pct(self.ingress_dropped, self.ingress_total)
    }
}

impl NetFixture {
    /// Starts random loss on the client's veth: an nftables table in the
    /// client namespace drops each packet in `direction` with probability
    /// `percent` % (`numgen random mod 100 < percent drop`), counting every
    /// packet and every drop. No interface change is visible to the client.
    #[track_caller]
    pub fn start_loss(&mut self, percent: u32, direction: LossDirection) -> FaultTime {
        assert!(!self.loss, "loss already on");
        assert!(percent <= 100, "loss {percent} %");
        let dev = &self.client_if;
        let rule = |hook: &str, key: &str, tag: &str, on: bool| {
            // `numgen random mod 100` gives 0..=99.
            let random = if percent >= 100 {
                String::new()
            } else {
                format!("numgen random mod 100 < {percent} ")
            };
            let drop = if on {
                format!("\x20   {key} \"{dev}\" {random}counter drop comment \"{tag}-dropped\"\n")
            } else {
                String::new()
            };
            format!(
                "\x20 chain {hook} {{\n\
                 \x20   type filter hook {hook} priority -300; policy accept;\n\
                 \x20   {key} \"{dev}\" counter comment \"{tag}-total\"\n\
                 {drop}\
                 \x20 }}\n"
            )
        };
        let rules = format!(
            "table inet {LOSS_TABLE} {{\n{}{}}}\n",
            rule(
                "output",
                "oifname",
                "egress",
                direction != LossDirection::Ingress
            ),
            rule(
                "input",
                "iifname",
                "ingress",
                direction != LossDirection::Egress
            ),
        );
        let t = self.timed(|| self.nft_load(&rules));
        self.loss = true;
        t
    }

    /// The counters of the random-loss table so far.
    #[track_caller]
    pub fn loss_counters(&self) -> LossCounters {
        let out = Command::new(&self.ip)
            .args(["netns", "exec", &self.client_ns])
            .arg(&self.nft)
            .args(["-j", "list", "table", "inet", LOSS_TABLE])
            .output()
            .expect("run nft");
        assert!(
            out.status.success(),
            "nft -j list table failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("nft -j prints JSON");
        let mut c = LossCounters::default();
        let items = json
            .get("nftables")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        for item in items {
            let Some(rule) = item.get("rule") else {
                continue;
            };
            let comment = rule.get("comment").and_then(|v| v.as_str()).unwrap_or("");
            let packets = rule
                .get("expr")
                .and_then(|v| v.as_array())
                .and_then(|exprs| {
                    exprs
                        .iter()
                        .find_map(|e| e.get("counter")?.get("packets")?.as_u64())
                })
                .unwrap_or(0);
            match comment {
                "egress-total" => c.egress_total = packets,
                "egress-dropped" => c.egress_dropped = packets,
                "ingress-total" => c.ingress_total = packets,
                "ingress-dropped" => c.ingress_dropped = packets,
                _ => {}
            }
        }
        c
    }

    /// Ends random loss: reads the counters, then deletes the table.
    #[track_caller]
    pub fn stop_loss(&mut self) -> (FaultTime, LossCounters) {
        assert!(self.loss, "loss not on");
        let counters = self.loss_counters();
        let t = self.timed(|| self.nft_delete_table(LOSS_TABLE));
        self.loss = false;
        (t, counters)
    }
}
