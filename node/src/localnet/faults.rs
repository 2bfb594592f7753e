//! Faults a [`LocalNet`] can suffer: a crash without a flush, a partition
//! and its healing, and a skewed clock.

use std::path::Path;

use libp2p::PeerId;

use super::{LocalNet, LocalNetError};

/// Copies the directory `from` into `to` as it is on disk now.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

impl LocalNet {
    /// Kills node `i` as `kill -9` would: its tasks are aborted without a
    /// flush, and its data directory is replaced by a copy of what was on
    /// disk at that moment, taken while the dead node's store is still open
    /// (dropping it makes sled flush its buffers; those writes go to the old
    /// directory, which is then thrown away). A stopped node is left as it is.
    pub async fn crash(&mut self, i: usize) -> Result<(), LocalNetError> {
        let slot = self.slots.get_mut(i).ok_or(LocalNetError::NoNode(i))?;
        let Some(node) = slot.node.take() else {
            return Ok(());
        };
        let still_open = node.crash().await;
        let fresh = tempfile::tempdir().map_err(LocalNetError::TempDir)?;
        let (from, to) = (slot.dir.path().to_path_buf(), fresh.path().to_path_buf());
        let copy_failed = |reason: String| LocalNetError::CrashCopy { index: i, reason };
        tokio::task::spawn_blocking(move || copy_dir(&from, &to))
            .await
            .map_err(|e| copy_failed(e.to_string()))?
            .map_err(|e| copy_failed(e.to_string()))?;
        drop(still_open);
        slot.dir = fresh;
        Ok(())
    }

    /// Splits the nodes into `groups` (indices; the nodes in no group form
    /// one more group): running nodes of different groups close their
    /// connections and refuse each other until [`LocalNet::heal`]; nodes
    /// restarted meanwhile join their group's side.
    pub async fn cut(&mut self, groups: Vec<Vec<usize>>) -> Result<(), LocalNetError> {
        self.partition = Some(groups);
        self.apply_partition().await
    }

    /// Lifts the partition: every node accepts every other again.
    pub async fn heal(&mut self) -> Result<(), LocalNetError> {
        self.partition = None;
        for (i, node) in self.running() {
            node.context()
                .net
                .cut(Vec::new())
                .await
                .map_err(|source| LocalNetError::Net { index: i, source })?;
        }
        Ok(())
    }

    /// The group of node `i` under the partition in force (0 when whole).
    pub fn group_of(&self, i: usize) -> usize {
        let groups = self.partition.as_deref().unwrap_or_default();
        groups
            .iter()
            .position(|g| g.contains(&i))
            .unwrap_or(groups.len())
    }

    /// Tells every running node which peers the partition cuts it off from.
    pub(super) async fn apply_partition(&self) -> Result<(), LocalNetError> {
        if self.partition.is_none() {
            return Ok(());
        }
        for (i, node) in self.running() {
            let mine = self.group_of(i);
            let others: Vec<PeerId> = self
                .slots
                .iter()
                .enumerate()
                .filter(|(j, _)| self.group_of(*j) != mine)
                .map(|(_, s)| s.peer)
                .collect();
            node.context()
                .net
                .cut(others)
                .await
                .map_err(|source| LocalNetError::Net { index: i, source })?;
        }
        Ok(())
    }

    /// Sets node `i`'s clock `offset_ms` off the system clock; the skew
    /// stays across restarts.
    pub fn skew(&self, i: usize, offset_ms: i64) -> Result<(), LocalNetError> {
        let slot = self.slots.get(i).ok_or(LocalNetError::NoNode(i))?;
        slot.clock.set_offset(offset_ms);
        Ok(())
    }
}
