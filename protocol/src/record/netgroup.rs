//! Which network a record's address is on, for the diversity rules (at most one
//! relay of a path per group), and which addresses a public network accepts.
//!
//! An operator controls the addresses in its own record, so a group must be
//! something that costs them to multiply: an IPv4 /24, or an IPv6 /48 (the
//! allocation a site usually gets, so one site's many /64s are one group).
//! A record with no routable IP address (only DNS names, or only addresses that
//! cannot be reached from the internet) is put in one shared group,
//! [`NetGroup::Unroutable`]: otherwise such records would be "on no network"
//! and compatible with every node, the cheapest way round the rule.
//!
//! Public networks refuse records listing loopback, private (RFC 1918, RFC 4193),
//! link-local, shared (RFC 6598), unspecified or documentation addresses, or the
//! names `localhost`/`*.localhost`/`*.local`: nobody else can reach them, and
//! listing them either wastes every dialer's time or points dialers at the
//! dialer's own network. Addresses are multiaddr text (`/ip4/…/tcp/…`);
//! parsing is by hand because this crate does not depend on libp2p.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The network group of an address or a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NetGroup {
    /// An IPv4 /24: the first three octets.
    V4([u8; 3]),
    /// An IPv6 /48: the first six bytes.
    V6([u8; 6]),
    /// No routable IP address.
    Unroutable,
}

/// What the first component of a multiaddr text names.
enum Host<'a> {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    Name(&'a str),
    Other,
}

fn host(addr: &str) -> Host<'_> {
    let mut parts = addr.split('/');
    // A multiaddr starts with '/', so the first part is empty.
    let (Some(""), Some(proto), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Host::Other;
    };
    match proto {
        "ip4" => value.parse().map_or(Host::Other, Host::V4),
        "ip6" => value.parse().map_or(Host::Other, Host::V6),
        "dns" | "dns4" | "dns6" | "dnsaddr" => Host::Name(value),
        _ => Host::Other,
    }
}

fn v4_routable(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b); // RFC 6598
    let benchmarking = a == 198 && (b == 18 || b == 19); // RFC 2544
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || shared
        || benchmarking
        || a == 0
        || a >= 240)
}

fn v6_routable(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_routable(v4);
    }
    let first = ip.segments()[0];
    let unique_local = first & 0xfe00 == 0xfc00; // RFC 4193
    let link_local = first & 0xffc0 == 0xfe80;
    let documentation = first == 0x2001 && ip.segments()[1] == 0x0db8; // RFC 3849
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || unique_local
        || link_local
        || documentation)
}

fn name_routable(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    !(name.is_empty()
        || name == "localhost"
        || name.ends_with(".localhost")
        || name.ends_with(".local"))
}

/// Whether a public network accepts `addr` in a record (see the module docs).
/// Addresses of transports other than IP and DNS (such as `/memory/…`) are not
/// accepted either.
pub fn is_public(addr: &str) -> bool {
    match host(addr) {
        Host::V4(ip) => v4_routable(ip),
        Host::V6(ip) => v6_routable(ip),
        Host::Name(name) => name_routable(name),
        Host::Other => false,
    }
}

/// The group of one address: its /24 or /48 when it is a routable IP address,
/// else `None` (names and other addresses say nothing about the network).
pub fn group_of(addr: &str) -> Option<NetGroup> {
    match host(addr) {
        Host::V4(ip) if v4_routable(ip) => {
            let [a, b, c, _] = ip.octets();
            Some(NetGroup::V4([a, b, c]))
        }
        Host::V6(ip) if v6_routable(ip) => {
            let o = ip.octets();
            Some(NetGroup::V6([o[0], o[1], o[2], o[3], o[4], o[5]]))
        }
        _ => None,
    }
}

/// The groups of a node listing `addrs`, without repeats: those of its
/// routable IP addresses, or [`NetGroup::Unroutable`] alone when it has none.
/// Two nodes sharing any group may not serve on one path.
///
/// `local` (networks that allow same-subnet paths, such as devnets on loopback)
/// groups private and loopback addresses by their prefix too, so that a
/// devnet's nodes are told apart the same way.
pub fn groups_of<'a>(addrs: impl IntoIterator<Item = &'a str>, local: bool) -> Vec<NetGroup> {
    let mut out = Vec::new();
    for addr in addrs {
        let group = if local {
            any_group(addr)
        } else {
            group_of(addr)
        };
        if let Some(g) = group
            && !out.contains(&g)
        {
            out.push(g);
        }
    }
    if out.is_empty() {
        out.push(NetGroup::Unroutable);
    }
    out
}

/// The groups that keep operators apart in swarms
/// ([`crate::position::swarm_for_diverse`]): those of the node's routable IP
/// addresses. A node with none is in [`NetGroup::Unroutable`] on networks
/// that keep subnets apart, and in no group where the network allows nodes
/// of one subnet together (a devnet on loopback, whose nodes would otherwise
/// all share one place). Loopback and private prefixes never count here, so
/// on such a network only nodes announcing public addresses are kept apart.
pub fn swarm_groups<'a>(
    addrs: impl IntoIterator<Item = &'a str>,
    allow_same_subnet: bool,
) -> Vec<NetGroup> {
    let mut out = Vec::new();
    for g in addrs.into_iter().filter_map(group_of) {
        if !out.contains(&g) {
            out.push(g);
        }
    }
    if out.is_empty() && !allow_same_subnet {
        out.push(NetGroup::Unroutable);
    }
    out
}

/// The prefix group of any IP address, routable or not.
fn any_group(addr: &str) -> Option<NetGroup> {
    match host(addr) {
        Host::V4(ip) => {
            let [a, b, c, _] = ip.octets();
            Some(NetGroup::V4([a, b, c]))
        }
        Host::V6(ip) => {
            let o = ip.octets();
            Some(NetGroup::V6([o[0], o[1], o[2], o[3], o[4], o[5]]))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swarm_groups_count_public_prefixes_only() {
        let public = ["/ip4/44.1.2.3/tcp/1", "/ip4/44.1.2.9/udp/1/quic-v1"];
        assert_eq!(swarm_groups(public, true), vec![NetGroup::V4([44, 1, 2])]);
        assert_eq!(swarm_groups(public, false), vec![NetGroup::V4([44, 1, 2])]);
        // Loopback, private and memory addresses put a node in no group on a
        // devnet (else its nodes would all share one place), and in the
        // shared "unroutable" group where subnets are kept apart.
        let local = ["/ip4/127.0.0.1/tcp/1", "/ip4/10.0.0.1/tcp/1", "/memory/7"];
        assert_eq!(swarm_groups(local, true), Vec::<NetGroup>::new());
        assert_eq!(swarm_groups(local, false), vec![NetGroup::Unroutable]);
        // A devnet node that also announces a public address is kept apart
        // by it.
        let both = ["/memory/7", "/ip4/44.9.9.1/tcp/4600"];
        assert_eq!(swarm_groups(both, true), vec![NetGroup::V4([44, 9, 9])]);
    }

    #[test]
    fn public_addresses() {
        for ok in [
            "/ip4/8.8.8.8/tcp/4001",
            "/ip4/203.0.114.1/udp/4001/quic-v1",
            "/ip6/2a01:4f8::1/tcp/4001",
            "/dns/node.example.org/tcp/4001",
            "/dns4/a.b/tcp/1",
        ] {
            assert!(is_public(ok), "{ok}");
        }
        for bad in [
            "/ip4/127.0.0.1/tcp/4001",
            "/ip4/10.1.2.3/tcp/4001",
            "/ip4/172.16.0.1/tcp/4001",
            "/ip4/192.168.1.1/tcp/4001",
            "/ip4/169.254.1.1/tcp/4001",
            "/ip4/100.64.0.1/tcp/4001",
            "/ip4/0.0.0.0/tcp/4001",
            "/ip4/192.0.2.1/tcp/4001",
            "/ip4/255.255.255.255/tcp/1",
            "/ip6/::1/tcp/4001",
            "/ip6/fd00::1/tcp/4001",
            "/ip6/fe80::1/tcp/4001",
            "/ip6/2001:db8::1/tcp/4001",
            "/ip6/::ffff:10.0.0.1/tcp/4001",
            "/dns/localhost/tcp/4001",
            "/dns/printer.local/tcp/4001",
            "/memory/1234",
            "",
            "ip4/8.8.8.8",
            "/ip4/999.1.1.1/tcp/1",
        ] {
            assert!(!is_public(bad), "{bad}");
        }
    }

    #[test]
    fn groups() {
        assert_eq!(
            group_of("/ip4/8.8.8.8/tcp/1"),
            Some(NetGroup::V4([8, 8, 8]))
        );
        // One /48, whatever the /64.
        assert_eq!(
            group_of("/ip6/2a01:4f8:1::1/tcp/1"),
            group_of("/ip6/2a01:4f8:1:ffff::2/tcp/1")
        );
        assert_ne!(
            group_of("/ip6/2a01:4f8:1::1/tcp/1"),
            group_of("/ip6/2a01:4f8:2::1/tcp/1")
        );
        assert_eq!(group_of("/dns/a.org/tcp/1"), None);
        // Names only: the shared group, so two such nodes never share a path.
        assert_eq!(
            groups_of(["/dns/a.org/tcp/1", "/dns/b.org/tcp/1"], false),
            vec![NetGroup::Unroutable]
        );
        assert_eq!(
            groups_of(["/ip4/8.8.8.8/tcp/1", "/ip4/8.8.8.9/udp/1/quic-v1"], false),
            vec![NetGroup::V4([8, 8, 8])]
        );
        // A devnet on loopback: grouped by prefix too.
        assert_eq!(
            groups_of(["/ip4/127.0.0.1/tcp/1"], true),
            vec![NetGroup::V4([127, 0, 0])]
        );
        assert_eq!(
            groups_of(["/ip4/127.0.0.1/tcp/1"], false),
            vec![NetGroup::Unroutable]
        );
    }
}
