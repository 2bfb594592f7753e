//! The local network's own bookkeeping: slots, restarts, crashes and errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use sotto_protocol::NetworkParams;

use super::{LocalNet, LocalNetError};

const LIMIT: Duration = Duration::from_secs(40);

#[tokio::test]
async fn unknown_nodes_are_typed_errors() {
    let mut net = LocalNet::new(NetworkParams::devnet());
    assert!(matches!(
        net.restart(3).await,
        Err(LocalNetError::NoNode(3))
    ));
    assert!(matches!(net.stop(1).await, Err(LocalNetError::NoNode(1))));
    assert!(matches!(net.crash(2).await, Err(LocalNetError::NoNode(2))));
    assert!(matches!(net.skew(0, 5), Err(LocalNetError::NoNode(0))));
    assert!(matches!(net.node(0), Err(LocalNetError::NoNode(0))));
    assert!(net.data_dir(0).is_err());
    assert!(net.running().next().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_stop_crash_and_come_back_on_their_slots() {
    tokio::time::timeout(Duration::from_secs(50), async {
        let mut net = LocalNet::start(NetworkParams::devnet(), 2, LIMIT)
            .await
            .unwrap();
        assert_eq!(net.running().count(), 2);
        let id1 = net.slots.get(1).unwrap().node_id;
        assert_eq!(net.index_of(&id1), Some(1));
        // Node 0 bootstraps the others and has no bootstrap itself.
        assert!(net.node_config(0).unwrap().bootstrap.is_empty());
        assert_eq!(
            net.node_config(1).unwrap().bootstrap,
            vec![net.bootstrap.to_string()]
        );

        net.stop(1).await.unwrap();
        assert!(matches!(net.node(1), Err(LocalNetError::NotRunning(1))));
        assert_eq!(net.stopped(), vec![1]);
        // A directory that cannot fill reports its sizes instead of hanging.
        match net.wait_directories(3, Duration::from_millis(300)).await {
            Err(LocalNetError::Directories { want: 3, sizes, .. }) => assert_eq!(sizes.len(), 1),
            other => panic!("expected a directory timeout, got {other:?}"),
        }

        let before = net.data_dir(0).unwrap();
        net.crash(0).await.unwrap();
        let after = net.data_dir(0).unwrap();
        assert_ne!(before, after, "a crash swaps in a copy of the disk");
        assert!(!before.exists(), "the old directory is thrown away");

        net.restart(0).await.unwrap();
        net.restart(1).await.unwrap();
        assert!(net.stopped().is_empty());
        let id0 = net.slots.first().unwrap().node_id;
        assert_eq!(net.node(0).unwrap().context().node_id, id0);
        net.wait_directories(2, LIMIT).await.unwrap();
        net.stop_all().await.unwrap();
        assert_eq!(net.stopped(), vec![0, 1]);
    })
    .await
    .expect("the local network test took too long");
}
