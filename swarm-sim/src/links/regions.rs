//! The regions of the simulator's network model, the round-trip times
//! between them, and how nodes and clients are spread over them.
//!
//! Round-trip times are the average pings between AWS regions published as
//! "Latency Between AWS Global Regions" and tabulated in "AWS Regions"
//! (A Computer Scientist Learns AWS, April 2017), one value per pair (the
//! table's two directions differ by under 2 ms). Within one region a
//! round trip takes 2 ms, the order of the pings between availability zones
//! of one AWS region (0.25 to 3.4 ms, "Measuring AWS Region and AZ
//! Latency", xkyle, 2019).
//!
//! The spread of nodes over regions is an assumption, not a measurement:
//! most service nodes of a network like this one are rented servers in
//! Europe and North America, a few are elsewhere. Clients (people's phones
//! and computers) are spread more widely.

/// One region: its name and the shares of nodes and clients placed in it
/// (relative weights).
#[derive(Debug, Clone, Copy)]
pub struct Region {
    /// A short name, after the AWS region the figures were measured in.
    pub name: &'static str,
    /// Relative share of the nodes.
    pub node_weight: u32,
    /// Relative share of the clients.
    pub client_weight: u32,
}

/// The regions, in the order of [`RTT_MS`]'s rows and columns.
pub const REGIONS: [Region; 8] = [
    region("us-east", 20, 20),
    region("us-west", 10, 12),
    region("eu-west", 20, 14),
    region("eu-central", 35, 16),
    region("ap-northeast", 5, 12),
    region("ap-southeast", 5, 12),
    region("ap-sydney", 2, 5),
    region("sa-east", 3, 9),
];

const fn region(name: &'static str, node_weight: u32, client_weight: u32) -> Region {
    Region {
        name,
        node_weight,
        client_weight,
    }
}

/// The round trip within one region, ms.
pub const SAME_REGION_RTT_MS: f64 = 2.0;

/// Round-trip times between regions, ms (see the module documentation for
/// the source). Rows and columns: N. Virginia, Oregon, Ireland, Frankfurt,
/// Tokyo, Singapore, Sydney, São Paulo.
pub const RTT_MS: [[f64; 8]; 8] = [
    [0.0, 87.0, 80.6, 88.7, 145.3, 216.7, 230.0, 119.5],
    [87.0, 0.0, 137.0, 159.5, 89.1, 161.4, 162.2, 182.7],
    [80.6, 137.0, 0.0, 19.6, 212.4, 239.0, 309.6, 191.3],
    [88.7, 159.5, 19.6, 0.0, 236.5, 325.9, 323.5, 194.9],
    [145.3, 89.1, 212.4, 236.5, 0.0, 73.8, 103.9, 256.8],
    [216.7, 161.4, 239.0, 325.9, 73.8, 0.0, 175.3, 328.1],
    [230.0, 162.2, 309.6, 323.5, 103.9, 175.3, 0.0, 322.5],
    [119.5, 182.7, 191.3, 194.9, 256.8, 328.1, 322.5, 0.0],
];

/// The round trip between regions `a` and `b`, ms.
pub fn rtt_ms(a: usize, b: usize) -> f64 {
    if a == b {
        return SAME_REGION_RTT_MS;
    }
    RTT_MS
        .get(a)
        .and_then(|row| row.get(b))
        .copied()
        .unwrap_or(SAME_REGION_RTT_MS)
}

/// The region at `draw` (uniform in `[0, total weight)`) by `weight`.
pub fn pick(draw: u64, weight: impl Fn(&Region) -> u32) -> usize {
    let total: u64 = REGIONS.iter().map(|r| u64::from(weight(r))).sum();
    let mut at = draw % total.max(1);
    for (i, r) in REGIONS.iter().enumerate() {
        let w = u64::from(weight(r));
        if at < w {
            return i;
        }
        at -= w;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_symmetric_with_an_empty_diagonal() {
        for (a, row) in RTT_MS.iter().enumerate() {
            assert_eq!(row[a], 0.0);
            for (b, v) in row.iter().enumerate() {
                assert_eq!(*v, RTT_MS[b][a], "{a} {b}");
                if a != b {
                    assert!(*v > SAME_REGION_RTT_MS);
                }
            }
        }
    }

    #[test]
    fn picks_follow_the_weights() {
        let mut seen = [0u32; 8];
        let total: u64 = REGIONS.iter().map(|r| u64::from(r.node_weight)).sum();
        for d in 0..total {
            seen[pick(d, |r| r.node_weight)] += 1;
        }
        for (i, r) in REGIONS.iter().enumerate() {
            assert_eq!(seen[i], r.node_weight);
        }
    }
}
