//! Reading and writing the secret files of the data directory: owner-only
//! permissions, a size limit, and writes that never leave half a file behind.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use zeroize::Zeroizing;

use super::IdentityError;

/// The largest key file read: the real ones are a few hundred bytes, so
/// anything bigger is not ours and is refused before it is read into memory.
pub(super) const MAX_KEY_FILE_LEN: u64 = 16 * 1024;

/// Reads a secret file, refusing one that group or others may read (like ssh
/// does with private keys) or one that is too large. The contents are wiped
/// from memory when dropped.
pub(super) fn read_secret(path: &Path) -> Result<Zeroizing<String>, IdentityError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(IdentityError::Missing {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(IdentityError::io(path, e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(IdentityError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    if meta.len() > MAX_KEY_FILE_LEN {
        return Err(IdentityError::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "{} bytes is more than a key file ever holds ({MAX_KEY_FILE_LEN})",
                meta.len()
            ),
        });
    }
    let file = fs::File::open(path).map_err(|e| IdentityError::io(path, e))?;
    let mut text = Zeroizing::new(String::new());
    // `take` bounds the read even if the file grew since the metadata call.
    file.take(MAX_KEY_FILE_LEN + 1)
        .read_to_string(&mut text)
        .map_err(|e| IdentityError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("not readable as UTF-8 text: {e}"),
        })?;
    if text.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(IdentityError::Corrupt {
            path: path.to_path_buf(),
            reason: "grew past the size limit while being read".into(),
        });
    }
    Ok(text)
}

/// Writes `contents` to `path` with mode 0600: first to a temporary file next
/// to it (created 0600, so the secret is never readable by others even for a
/// moment), synced, then renamed over the old file, so a crash leaves either
/// the old key or the new one, never a torn file.
pub(super) fn write_secret(path: &Path, contents: &str) -> Result<(), IdentityError> {
    let tmp = path.with_extension("key.tmp");
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        // A leftover temporary file from a crash may have another mode.
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            // Make the rename itself durable.
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        IdentityError::io(path, e)
    })
}

/// Creates the data directory (mode 0700) if it does not exist yet.
pub(super) fn create_private_dir(dir: &Path) -> Result<(), IdentityError> {
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(|e| IdentityError::io(dir, e))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| IdentityError::io(dir, e))?;
    }
    Ok(())
}

/// Parses 64 hex digits into 32 bytes, wiped on drop.
pub(super) fn parse_key_hex(
    path: &Path,
    what: &str,
    text: &str,
) -> Result<Zeroizing<[u8; 32]>, IdentityError> {
    let mut out = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), &mut out[..]).map_err(|e| IdentityError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("{what} is not 64 hex digits: {e}"),
    })?;
    Ok(out)
}
