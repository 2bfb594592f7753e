//! The chat library offline: homes, passphrases, locking, file modes,
//! contacts, names and ids.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::str::FromStr;

use sotto_client::Account;
use sotto_client::chat::{
    ChatError, HomeOptions, MessageId, MessageState, Messenger, Settings, VerificationStatus,
};

fn opts(dir: &tempfile::TempDir, pass: Option<&str>) -> HomeOptions {
    HomeOptions {
        home: dir.path().join("home"),
        passphrase: pass.map(str::to_owned),
    }
}

#[test]
fn passphrase_protects_the_home() {
    let dir = tempfile::tempdir().unwrap();
    let (m, phrase) = Messenger::create(&opts(&dir, Some("open sesame")), Some("Ann")).unwrap();
    let id = m.account_id();
    assert_eq!(Account::restore(phrase.as_str()).unwrap().id(), id);
    drop(m);
    let wrong = Messenger::open(&opts(&dir, Some("open barley")))
        .err()
        .unwrap();
    assert!(matches!(wrong, ChatError::WrongPassphrase));
    println!("wrong passphrase: {wrong}");
    assert!(matches!(
        Messenger::open(&opts(&dir, None)),
        Err(ChatError::WrongPassphrase)
    ));
    let m = Messenger::open(&opts(&dir, Some("open sesame"))).unwrap();
    assert_eq!(m.account_id(), id);
    assert_eq!(m.display_name().as_deref(), Some("Ann"));
    // The display name is not readable on disk.
    let mut found = false;
    for entry in walk(&dir.path().join("home")) {
        let bytes = std::fs::read(&entry).unwrap();
        found |= bytes.windows(3).any(|w| w == b"Ann");
    }
    assert!(!found, "the display name is stored in the clear");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[cfg(unix)]
#[tokio::test]
async fn store_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (m, _) = Messenger::create(&opts(&dir, None), None).unwrap();
    let peer = Account::create().id();
    m.send_text(&peer, "queued").await.unwrap();
    m.shutdown().await;
    let home = dir.path().join("home");
    assert_eq!(
        std::fs::metadata(&home).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let files = walk(&home);
    assert!(!files.is_empty());
    for f in files {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", f.display());
    }
}

#[test]
fn homes_are_locked_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Messenger::open(&opts(&dir, None)),
        Err(ChatError::NoAccount { .. })
    ));
    assert!(!dir.path().join("home").exists(), "open made a home");
    let (m, phrase) = Messenger::create(&opts(&dir, None), None).unwrap();
    let locked = Messenger::open(&opts(&dir, None)).err().unwrap();
    assert!(matches!(locked, ChatError::Locked { .. }), "{locked:?}");
    assert!(locked.to_string().contains("another sotto process"));
    drop(m);
    assert!(matches!(
        Messenger::create(&opts(&dir, None), None),
        Err(ChatError::AccountExists { .. })
    ));
    let other = tempfile::tempdir().unwrap();
    let restored = Messenger::restore(&opts(&other, None), phrase.as_str(), None).unwrap();
    assert_eq!(
        restored.account_id(),
        Messenger::open(&opts(&dir, None)).unwrap().account_id()
    );
    let third = tempfile::tempdir().unwrap();
    assert!(matches!(
        Messenger::restore(&opts(&third, None), "zoo zoo", None),
        Err(ChatError::InvalidPhrase(_))
    ));
}

#[tokio::test]
async fn contacts_names_settings_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (m, _) = Messenger::create(&opts(&dir, None), None).unwrap();
    let (x, y) = (Account::create().id(), Account::create().id());
    m.add_contact(x, Some("Sam")).unwrap();
    m.add_contact(y, Some("sam")).unwrap();
    assert!(matches!(m.resolve("SAM"), Err(ChatError::Ambiguous(_))));
    m.add_contact(y, Some("Pat")).unwrap();
    assert_eq!(m.resolve("sam").unwrap(), x);
    assert_eq!(m.resolve("pat").unwrap(), y);
    assert_eq!(m.resolve(&x.to_text()).unwrap(), x);
    assert_eq!(m.contacts().unwrap().len(), 2);
    m.remove_contact(&y).unwrap();
    assert!(matches!(
        m.resolve("pat"),
        Err(ChatError::UnknownContact(_))
    ));

    assert!(matches!(
        m.set_display_name("bad\u{202E}name"),
        Err(ChatError::InvalidName(_))
    ));
    m.set_display_name("Robin").unwrap();
    assert_eq!(m.display_name().as_deref(), Some("Robin"));
    let s = Settings {
        read_receipts: false,
        typing_indicators: false,
        auto_fetch_max_bytes: 0,
        download_dir: Some("/somewhere/else".into()),
    };
    m.set_settings(s.clone()).unwrap();
    assert_eq!(m.settings(), s);

    let v = m.verification(&x).unwrap();
    assert_eq!(v.status, VerificationStatus::Unverified);
    assert_eq!(v.code.digits().len(), 60);
    m.mark_verified(&x).unwrap();
    assert_eq!(
        m.verification(&x).unwrap().status,
        VerificationStatus::Verified
    );
    assert_eq!(
        m.contacts().unwrap()[0].verified,
        VerificationStatus::Verified
    );

    let id = m.send_text(&x, "hi").await.unwrap();
    assert_eq!(MessageId::from_str(&id.to_string()).unwrap(), id);
    assert_eq!(id.to_string().len(), 32);
    assert!(MessageId::from_str("xyz").is_err());
    assert_eq!(MessageState::Delivered.to_string(), "delivered");
    assert!(matches!(
        m.send_text(&x, &"x".repeat(200_000)).await,
        Err(ChatError::TooLong { .. })
    ));
    assert!(matches!(
        m.send_text(&x, "   ").await,
        Err(ChatError::Invalid(_))
    ));
    assert!(matches!(
        m.receive_once(std::time::Duration::from_millis(10)).await,
        Err(ChatError::NotConnected)
    ));
    let convs = m.conversations().unwrap();
    assert_eq!(convs[0].peer, x);
    assert_eq!(convs[0].title, "Sam");
    assert_eq!(convs[0].last.as_ref().unwrap().state, MessageState::Queued);
}
