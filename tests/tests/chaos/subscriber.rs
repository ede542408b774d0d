//! A subscriber behind the faulty link: the other scenarios put the
//! publisher (uid 1) in the client namespace, where the faults are, and the
//! subscriber in the server's. Here it is the other way round: uid 1
//! publishes from the server namespace, uid 2 subscribes from the client
//! namespace, so every fault hits the subscriber's media path (its receive
//! side, its subscriber connection's ICE restart, its rebinding after an
//! address change).

use super::*;

fn subscriber_side(name: &str) -> Option<Cluster> {
    let mut c = Cluster::start(name, true)?;
    c.join(1, Side::Server, Kind::Publisher, Via::Direct);
    c.join(2, Side::Client, Kind::Subscriber, Via::Direct);
    c.join(3, Side::Client, Kind::Quiet, Via::Direct);
    c.converge(RECONNECT);
    Some(c)
}

#[test]
fn quick_subscriber_behind_the_faulty_link() {
    let Some(mut c) = subscriber_side("chaos_quick_subscriber") else {
        return;
    };
    let scenario = "quick_subscriber_behind_the_faulty_link";
    link_down(&mut c, scenario, Duration::from_secs(3));
    loss(&mut c, scenario, 20, Duration::from_secs(5));
    let mut a = AddressChanger::new(&c.net);
    address_change(&mut c, scenario, &mut a);
    // Longer than the server's 10 s: uid 2 rejoins and subscribes afresh.
    link_down(&mut c, scenario, Duration::from_secs(11));
}
