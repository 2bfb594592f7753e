//! The seeded message schedule: who sends to whom, and when.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::Scenario;

/// One message to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// Its id, unique in the run; it travels in the message text.
    pub id: u64,
    /// When to send it, in ms from the start of sending.
    pub at_ms: u64,
    /// The sending client.
    pub from: usize,
    /// The receiving client.
    pub to: usize,
}

/// Whether client `c` is online `at_ms` after the start of sending.
pub fn online(s: &Scenario, c: usize, at_ms: u64) -> bool {
    !s.offline
        .iter()
        .any(|o| o.client == c && (o.from_s * 1000..o.to_s * 1000).contains(&at_ms))
}

/// Whether client `c` takes part in the schedule: a flooder and its target
/// do not, so that the other clients' figures show the flood's effect on
/// them alone.
pub fn scheduled(s: &Scenario, c: usize) -> bool {
    !s.flood
        .as_ref()
        .is_some_and(|f| f.client == c || f.target == Some(c))
        && s.attack.as_ref().is_none_or(|a| a.client != c)
}

/// The messages of a run, in time order. Same scenario and seed, same
/// schedule. Senders are online when they send (a client that is away does
/// not write); recipients may be away, which is the point of offline windows.
pub fn schedule(s: &Scenario) -> Vec<Planned> {
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed ^ 0x5eed_5c4e_d01e_0f00);
    let span_ms = s.duration_s * 1000;
    let count = match (s.messages.count, s.messages.rate) {
        (Some(n), _) => n,
        // Checked against MAX_MESSAGES when the scenario was parsed.
        (None, Some(rate)) => (rate * s.duration_s as f64).round() as usize,
        (None, None) => 0,
    };
    let mut times: Vec<u64> = (0..count).map(|_| rng.random_range(0..span_ms)).collect();
    times.sort_unstable();
    let mut out = Vec::with_capacity(count);
    for at_ms in times {
        let senders: Vec<usize> = (0..s.clients)
            .filter(|&c| scheduled(s, c) && online(s, c, at_ms))
            .collect();
        if senders.is_empty() {
            continue;
        }
        let Some(&from) = senders.get(rng.random_range(0..senders.len())) else {
            continue;
        };
        // Anyone scheduled but the sender: at least two are, which is
        // checked at parse time.
        let recipients: Vec<usize> = (0..s.clients)
            .filter(|&c| c != from && scheduled(s, c))
            .collect();
        let Some(&to) = recipients.get(rng.random_range(0..recipients.len().max(1))) else {
            continue;
        };
        out.push(Planned {
            id: out.len() as u64,
            at_ms,
            from,
            to,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(seed: u64) -> Scenario {
        let text = format!(
            "name = \"t\"\nseed = {seed}\nnodes = 10\nclients = 3\nduration_s = 10\n\
             [messages]\ncount = 50\n[[offline]]\nclient = 0\nfrom_s = 0\nto_s = 5\n"
        );
        Scenario::parse(&text).unwrap()
    }

    #[test]
    fn same_seed_same_schedule_and_offline_senders_stay_quiet() {
        let a = schedule(&scenario(7));
        assert_eq!(a, schedule(&scenario(7)));
        assert_ne!(a, schedule(&scenario(8)));
        assert_eq!(a.len(), 50);
        assert!(a.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        assert!(a.iter().all(|p| p.from != p.to && p.to < 3));
        assert!(a.iter().filter(|p| p.at_ms < 5000).all(|p| p.from != 0));
    }
}
