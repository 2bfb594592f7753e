//! Downloading an attachment into a folder: every chunk checked before it is
//! written, the file visible under its name only once all of it verified.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sotto_protocol::attachment::name::first_free_name;
use sotto_protocol::attachment::{
    Attachment, AttachmentError, FileOpener, MANIFEST_INDEX, safe_file_name,
};

use futures::StreamExt;

use super::{AttachError, AttachResult, CHUNKS_IN_FLIGHT, ChunkStore, Progress, io_err};

/// Most alternative names tried when the sanitised name is taken.
pub const MAX_NAME_TRIES: u32 = 9_999;

/// A saved attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Where it was saved (inside the folder given).
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
}

/// Fetches the file `attachment` describes through `store` and saves it in
/// `dir` (which must exist) under its sanitised name, renamed on a clash, with
/// mode 0600. Chunks are written to a temporary file in `dir` as they verify;
/// on any failure it is removed and nothing appears under the file's name.
/// `progress` is called after every chunk.
pub async fn download<S: ChunkStore>(
    store: &S,
    attachment: &Attachment,
    dir: &Path,
    mut progress: impl FnMut(Progress),
) -> AttachResult<Downloaded> {
    let mut opener = FileOpener::new(
        attachment.secret.clone(),
        attachment.size,
        attachment.chunk_count,
        attachment.root,
    )?;
    let total = attachment.chunk_count + u32::from(attachment.chunk_count > 1);
    let mut done = 0;
    if let Some(root) = opener.manifest_needed() {
        let chunk = store
            .get(root)
            .await?
            .ok_or(AttachmentError::MissingChunk {
                index: MANIFEST_INDEX,
            })?;
        opener.open_manifest(&chunk)?;
        done += 1;
        progress(Progress { done, total });
    }
    let hashes = opener.expected().map(<[_]>::to_vec).unwrap_or_default();
    let root_hex = attachment.root.to_hex();
    let temp = dir.join(format!(
        ".sotto-partial-{}",
        root_hex.get(..16).unwrap_or_default()
    ));
    let what = format!("writing {}", temp.display());
    // A partial file of an earlier, interrupted download of this attachment.
    let _ = fs::remove_file(&temp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(io_err(what.clone()))?;
    let written: AttachResult<()> = async {
        // Several chunks are fetched at once (each over a path of its own),
        // and used strictly in order: the opener checks each at its index.
        let mut fetched = futures::stream::iter(hashes.iter().copied())
            .map(|hash| store.get(hash))
            .buffered(CHUNKS_IN_FLIGHT);
        let mut index = 0u32;
        while let Some(chunk) = fetched.next().await {
            let chunk = chunk?.ok_or(AttachmentError::MissingChunk { index })?;
            let plain = opener.push(index, &chunk)?;
            index += 1;
            file.write_all(&plain).map_err(io_err(what.clone()))?;
            done += 1;
            progress(Progress { done, total });
        }
        opener.finish()?;
        file.sync_all().map_err(io_err(what.clone()))?;
        Ok(())
    }
    .await;
    drop(file);
    let placed = written.and_then(|()| place(&temp, dir, &attachment.name));
    let _ = fs::remove_file(&temp);
    let path = placed?;
    Ok(Downloaded {
        path,
        size: attachment.size,
    })
}

/// Links the verified temporary file under the first free form of the
/// sanitised `name`. A hard link never replaces an existing file, so a name
/// taken between the check and the link is skipped, not overwritten.
fn place(temp: &Path, dir: &Path, name: &str) -> AttachResult<PathBuf> {
    let safe = safe_file_name(name);
    let mut tries = 0;
    loop {
        let taken = |n: &str| dir.join(n).symlink_metadata().is_ok();
        let Some(free) = first_free_name(&safe, MAX_NAME_TRIES, taken) else {
            break;
        };
        let target = dir.join(&free);
        match fs::hard_link(temp, &target) {
            Ok(()) => {
                // Persist the new directory entry.
                File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io_err(format!("syncing {}", dir.display())))?;
                return Ok(target);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 8 => tries += 1,
            Err(e) => return Err(io_err(format!("saving {}", target.display()))(e)),
        }
    }
    Err(AttachError::NoFreeName {
        name: safe,
        dir: dir.display().to_string(),
    })
}
