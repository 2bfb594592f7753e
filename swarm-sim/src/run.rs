//! One run of a scenario: start the net and the users, send the schedule,
//! apply the faults, drain, measure, stop everything.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use sotto_client::Client;
use sotto_protocol::AccountId;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::SimError;
use crate::faults::{self, Applied};
use crate::ledger::{self, Ledger, Shared};
use crate::net::SimNet;
use crate::replication;
use crate::report::{Outcome, Report};
use crate::scenario::{self, Scenario, schedule};
use crate::user::{self, User};
use sotto_node::errln;

/// How long the nodes may take to learn of each other.
const DIRECTORY_WAIT: Duration = Duration::from_secs(90);
/// How often the directory wait says how far it got.
const DIRECTORY_REPORT: Duration = Duration::from_secs(10);
/// How long a client may take to build its first path.
const PATH_WAIT: Duration = Duration::from_secs(60);
/// Sends in flight at once.
const MAX_SENDS: usize = 64;
/// How long receivers get to stop once told to.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// Runs `s` to the end and returns its report. `progress` shows a bar on
/// stderr.
pub async fn run(s: &Scenario, progress: bool) -> Result<Report, SimError> {
    let wall = Instant::now();
    let params = s.params().map_err(|e| SimError::Setup(e.to_string()))?;
    let mut net = SimNet::with_links(params.clone(), s.seed, &s.latency);
    net.overrides = s.node.clone();
    // Past 32 nodes, joins are spread over the first few nodes (one per 32,
    // at most 32), two seeds each, so that no node holds a connection from
    // every other and no newcomer depends on one busy seed.
    net.seeds = (s.nodes / 32).clamp(1, 32);
    // With an attacker, every node announces a public address of the
    // simulation, so that swarms keep one place per /24 as on the internet.
    let hostile = s
        .sybil
        .as_ref()
        .map(|sy| sy.hostile_indices(s.nodes, s.seed))
        .unwrap_or_default();
    for i in 0..s.nodes {
        let external = s
            .sybil
            .as_ref()
            .map(|sy| vec![sy.public_addr(i, &hostile)])
            .unwrap_or_default();
        net.add_node_at(external).await?;
    }
    let directories_s = wait_directories(&net, s.nodes).await?;

    // The attacker's nodes are in the network before any client starts, so
    // clients meet them as guards, relays and swarm members like any other.
    let (sybil_stop, sybil_stopped) = watch::channel(false);
    let sybil = s
        .sybil
        .as_ref()
        .map(|sy| crate::sybil::Attacker::start(&net, sy, s.seed, sybil_stopped.clone()));

    let mut users = Vec::with_capacity(s.clients);
    for (index, key) in user::account_keys(s.seed, s.clients)
        .into_iter()
        .enumerate()
    {
        let mut config = net.client_config(index);
        if let Some(c) = s.clock_skew.iter().find(|c| c.client == index) {
            config.clock_offset_ms = c.offset_ms;
        }
        let client = Client::start(config)
            .await
            .map_err(|e| SimError::Setup(format!("client {index}: {e}")))?;
        users.push(Arc::new(User::new(index, key, client, params.name.clone())));
    }
    for u in &users {
        u.wait_ready(PATH_WAIT).await?;
    }
    // Messages v2: nobody can start a session with a user whose prekey
    // bundle is not in its swarm yet.
    for u in &users {
        u.publish().await?;
    }
    let mut groups = match &s.groups {
        Some(g) => Some(crate::groups::Groups::setup(&mut net, s, g).await?),
        None => None,
    };
    let accounts: Vec<AccountId> = users.iter().map(|u| u.account()).collect();
    let rotating = params.position_period_ms > 0;
    let positions_at_start = rotating.then(|| crate::positions::start(&net, &accounts));
    if let Some(a) = &sybil {
        a.watch_paths(users.clone(), sybil_stopped.clone());
    }

    let start = Instant::now();
    let ledger = Ledger::new(start);
    let (stop_tx, stop_rx) = watch::channel(false);
    let scenario = Arc::new(s.clone());
    let mut receivers = JoinSet::new();
    for u in &users {
        let (u, l, sc, stop) = (u.clone(), ledger.clone(), scenario.clone(), stop_rx.clone());
        receivers.spawn(async move {
            let online = || scenario::online(&sc, u.index, elapsed_ms(start));
            u.receive_loop(l, online, stop).await;
        });
    }
    if let Some(g) = groups.as_mut() {
        g.start(start, s.duration_s);
    }
    let sender = tokio::spawn(send_all(
        schedule(s),
        users.clone(),
        accounts.clone(),
        ledger.clone(),
        start,
        params.default_ttl_ms,
    ));

    let flood = s.flood.clone().and_then(|f| {
        let user = users.get(f.client)?.clone();
        let target = *accounts.get(f.target.unwrap_or(f.client))?;
        Some(tokio::spawn(crate::flood::run(
            f,
            user,
            target,
            ledger.clone(),
            start,
            params.default_ttl_ms,
            stop_rx.clone(),
        )))
    });

    let attack_counts = crate::attack::Shared::default();
    let attack = s.attack.clone().and_then(|a| {
        let user = users.get(a.client)?.clone();
        let victim = *accounts.get(a.victim.unwrap_or(0))?;
        let arena = Arc::new(crate::attack::Arena::new(&mut net, victim, a.client));
        Some(tokio::spawn(crate::attack::run(
            a,
            user,
            arena,
            start,
            attack_counts.clone(),
            stop_rx.clone(),
        )))
    });

    let applied = drive(
        s,
        &mut net,
        &ledger,
        &accounts,
        start,
        progress,
        &sender,
        groups.as_ref(),
    )
    .await?;
    let _ = stop_tx.send(true);
    sender.abort();
    if let Some(f) = flood {
        f.abort();
    }
    if let Some(a) = attack {
        a.abort();
    }
    let _ = tokio::time::timeout(STOP_WAIT, async {
        while receivers.join_next().await.is_some() {}
    })
    .await;
    receivers.abort_all();

    let counts = ledger::with(&ledger, |l| l.counts());
    let deliveries = ledger::with(&ledger, |l| l.deliveries().to_vec());
    let stored = ledger::with(&ledger, |l| l.stored());
    let per_client = ledger::with(&ledger, |l| l.per_client(s.clients));
    let flood_counts = s
        .flood
        .as_ref()
        .map(|_| ledger::with(&ledger, |l| l.flood()));
    let replication = replication::settle(&net, &stored).await;
    let nodes_at_end = net.running().count();
    let positions = positions_at_start
        .as_ref()
        .map(|p| crate::positions::figures(&net, p, &accounts));
    let sybil_figures = match (&sybil, users.first()) {
        (Some(a), Some(u)) => Some(a.figures(&net, &u.client, &accounts, s.seed)),
        _ => None,
    };
    let _ = sybil_stop.send(true);
    let group_figures = match groups {
        Some(g) => Some(g.finish(&net).await),
        None => None,
    };

    for u in users {
        if let Ok(u) = Arc::try_unwrap(u) {
            u.client.shutdown().await;
        }
    }
    net.stop_all().await?;

    Ok(Report::new(
        s,
        Outcome {
            counts,
            per_client,
            flood: flood_counts,
            attack: s.attack.as_ref().map(|_| match attack_counts.lock() {
                Ok(c) => c.clone(),
                Err(p) => p.into_inner().clone(),
            }),
            deliveries,
            replication,
            faults: applied,
            nodes_at_end,
            sybil: sybil_figures,
            positions,
            groups: group_figures,
            network_model: net.model_summary(),
            wall_s: wall.elapsed().as_secs_f64(),
            directories_s,
        },
    ))
}

/// Waits up to [`DIRECTORY_WAIT`] for every node to know `n` nodes, saying
/// every [`DIRECTORY_REPORT`] how far the directories are (least, tenth
/// percentile, median), and returns the seconds it took. On a timeout, says
/// what the nodes did ([`directory_diagnosis`]).
async fn wait_directories(net: &SimNet, n: usize) -> Result<f64, SimError> {
    let started = Instant::now();
    let mut next_report = DIRECTORY_REPORT;
    loop {
        let mut sizes: Vec<usize> = net
            .running()
            .map(|(_, node)| node.context().dir(|d| d.len()))
            .collect();
        if sizes.iter().all(|s| *s >= n) {
            return Ok(started.elapsed().as_secs_f64());
        }
        let waited = started.elapsed();
        if waited >= DIRECTORY_WAIT {
            errln!("swarm-sim: {}", directory_diagnosis(net));
            return Err(SimError::Setup(format!(
                "directories did not reach {n} nodes within {} s: sizes {sizes:?}",
                DIRECTORY_WAIT.as_secs()
            )));
        }
        if waited >= next_report {
            next_report += DIRECTORY_REPORT;
            sizes.sort_unstable();
            let at = |q: usize| sizes.get(sizes.len() * q / 100).copied().unwrap_or(0);
            errln!(
                "swarm-sim: directories after {:.0} s: least {}, p10 {}, median {} of {n} \
                 (peak RSS so far {:.0} MB)",
                waited.as_secs_f64(),
                at(0),
                at(10),
                at(50),
                crate::report::peak_rss_mb().unwrap_or(0.0)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn elapsed_ms(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

/// Sends the schedule at its times, at most [`MAX_SENDS`] at once; returns
/// when every send has finished.
async fn send_all(
    plan: Vec<scenario::Planned>,
    users: Vec<Arc<User>>,
    accounts: Vec<AccountId>,
    ledger: Shared,
    start: Instant,
    ttl_ms: u64,
) {
    let slots = Arc::new(Semaphore::new(MAX_SENDS));
    let mut sends = JoinSet::new();
    for p in plan {
        tokio::time::sleep_until((start + Duration::from_millis(p.at_ms)).into()).await;
        let (Some(u), Some(&to)) = (users.get(p.from), accounts.get(p.to)) else {
            continue;
        };
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let (u, l) = (u.clone(), ledger.clone());
        sends.spawn(async move {
            u.send(p.id, p.to, to, &l, ttl_ms).await;
            drop(permit);
        });
    }
    while sends.join_next().await.is_some() {}
}

/// Applies faults at their times and shows progress until the run is over:
/// after the sending window, once every send is done and every acknowledged
/// message delivered (and no fault is left, and the group, if any, is done
/// too), or when the drain time is up.
#[allow(clippy::too_many_arguments)]
async fn drive(
    s: &Scenario,
    net: &mut SimNet,
    ledger: &Shared,
    accounts: &[AccountId],
    start: Instant,
    progress: bool,
    sender: &tokio::task::JoinHandle<()>,
    groups: Option<&crate::groups::Groups>,
) -> Result<Vec<Applied>, SimError> {
    let end_ms = (s.duration_s + s.drain_s) * 1000;
    let bar = if progress {
        ProgressBar::new(end_ms / 1000)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len}s {msg}")
    {
        bar.set_style(style);
    }
    let mut order: Vec<usize> = (0..s.faults.len()).collect();
    order.sort_by_key(|&i| s.faults.get(i).map_or(0, |f| f.at_s));
    let mut next = 0;
    let mut applied = Vec::new();
    loop {
        let now = elapsed_ms(start);
        while let Some(f) = order
            .get(next)
            .and_then(|&i| s.faults.get(i).map(|f| (i, f)))
        {
            let (i, f) = f;
            if f.at_s * 1000 > now {
                break;
            }
            let a = faults::apply(net, f, s.seed, i, now, accounts, &applied).await?;
            let line = format!("t={:.1}s {} {:?}", now as f64 / 1000.0, a.kind, a.nodes);
            // A hidden bar (stderr is not a terminal) swallows its lines.
            if progress && bar.is_hidden() {
                errln!("{line}");
            } else {
                bar.println(line);
            }
            applied.push(a);
            next += 1;
        }
        let c = ledger::with(ledger, |l| l.counts());
        bar.set_position(now / 1000);
        // The bar spans sending and drain (as the header says): name the phase.
        let phase = if now < s.duration_s * 1000 {
            "sending"
        } else {
            "draining"
        };
        let group = groups.map_or(String::new(), |g| format!("; {}", g.progress()));
        bar.set_message(format!(
            "{phase}: sent {} acked {} delivered {} pending {}{group}",
            c.sent, c.acked, c.delivered, c.lost
        ));
        let settled = sender.is_finished()
            && c.lost == 0
            && next >= order.len()
            && groups.is_none_or(crate::groups::Groups::settled);
        if now >= end_ms || (now >= s.duration_s * 1000 && settled) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bar.finish_and_clear();
    Ok(applied)
}

/// What the nodes' counters say about how records spread, for a run whose
/// directories did not fill: records taken by outcome, inbound events
/// dropped on a full queue, and connected peers per node.
fn directory_diagnosis(net: &SimNet) -> String {
    let (mut nodes, mut peers) = (0i64, 0i64);
    let count = |name: &'static str| -> u64 {
        net.running()
            .map(|(_, n)| n.context().metrics.records.get(name, ""))
            .sum()
    };
    let (new, updated, unchanged, invalid) = (
        count("new"),
        count("updated"),
        count("unchanged"),
        count("invalid"),
    );
    let (mut dropped, mut busy) = (0, 0);
    let mut refused: std::collections::BTreeMap<String, u64> = Default::default();
    for (_, n) in net.running() {
        let m = &n.context().metrics;
        nodes += 1;
        peers += m.connected_peers.get();
        dropped += m.rejected.sum_first("net");
        busy += m.rejected.get("gossip", "busy");
        for ((a, b), v) in m.rejected.snapshot() {
            *refused.entry(format!("{a}/{b}")).or_default() += v;
        }
    }
    let mut top: Vec<(String, u64)> = refused.into_iter().collect();
    top.sort_by_key(|x| std::cmp::Reverse(x.1));
    top.truncate(6);
    let top: Vec<String> = top.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let busy = format!("{busy}; most refused: {}", top.join(", "));
    format!(
        "directory diagnosis over {nodes} nodes: records new {new} updated {updated} \
         unchanged {unchanged} invalid {invalid}; gossiped records left unchecked (busy) \
         {busy}; inbound events dropped {dropped}; connected peers per node {:.1}",
        peers as f64 / nodes.max(1) as f64
    )
}
