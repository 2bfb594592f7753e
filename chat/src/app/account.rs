//! `init`, `restore` and `id`: the account itself.

use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::time::Duration;

use sotto_client::PathStatus;
use sotto_client::chat::Messenger;

use super::{AppError, Ctx, passphrase};

/// Most bytes of a recovery phrase read from stdin: 12 words of at most 8
/// letters plus spacing fit easily; more is not a phrase.
const MAX_PHRASE_BYTES: u64 = 1024;
/// How long `init` and `restore` try to publish the new account's prekeys
/// before leaving it to the next connected command.
const PUBLISH_WAIT: Duration = Duration::from_secs(30);

/// Publishes a new (or restored) account's prekey bundle and group key
/// package, so that others can start a conversation with it, or add it to a
/// group, before it is online again (messages v2: a first message needs the
/// recipient's bundle). Best effort and bounded: the
/// account works without it, and any connected command publishes too.
async fn publish_keys(ctx: &Ctx, m: &Messenger) -> Result<(), AppError> {
    const LATER: &str = "Your keys are published the first time sotto connects (send, inbox, chat): \
                         until then nobody can start a conversation with you.";
    let Ok(config) = ctx.client_config() else {
        say!("{LATER}");
        return Ok(());
    };
    if m.connect(config).await.is_err() {
        say!("{LATER}");
        return Ok(());
    }
    let published = tokio::time::timeout(PUBLISH_WAIT, async {
        loop {
            if matches!(m.path_status(), PathStatus::Ready { .. })
                && m.publish_prekeys().await.is_ok()
                && m.prekey_status().is_ok_and(|(_, at)| at > 0)
                // The group key package: admins can add this account then.
                && m.publish_key_package().await.is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .is_ok();
    super::close(m).await;
    if published {
        say!("Your keys are published: others can write to you now.");
    } else {
        say!("{LATER}");
    }
    Ok(())
}

fn print_id_with_qr(id: &str) -> Result<(), AppError> {
    say!("Account ID: {id}");
    match crate::qr::render(id) {
        Some(lines) => {
            say!();
            for l in lines {
                say!("  {l}");
            }
            say!();
        }
        None => say!("(the ID is too long to draw as a QR code)"),
    }
    Ok(())
}

/// `sotto init`.
pub async fn init(ctx: &Ctx, name: Option<&str>, encrypt: bool) -> Result<(), AppError> {
    let mut opts = ctx.home_options();
    if encrypt {
        opts.passphrase = Some(passphrase::new_passphrase()?);
    }
    let (m, phrase) = Messenger::create(&opts, name)?;
    print_id_with_qr(&m.account_id().to_string())?;
    say!("Share this ID (or the QR code) with the people you want to talk to.");
    say!();
    say!("Recovery phrase — write it down now, it is shown only this once:");
    say!();
    say!("    {}", phrase.as_str());
    say!();
    say!(
        "Anyone with these 12 words can read your messages and speak as you; without them a lost device means a lost account."
    );
    if opts.passphrase.is_some() {
        say!(
            "Your home is encrypted: sotto will ask for the passphrase (or read SOTTO_PASSPHRASE)."
        );
    }
    publish_keys(ctx, &m).await?;
    Ok(())
}

/// `sotto restore`: the phrase comes from stdin. The restored account gets
/// new prekeys (the old device's sessions cannot be brought back: its
/// contacts' next messages move each conversation to a new session).
pub async fn restore(ctx: &Ctx, name: Option<&str>, encrypt: bool) -> Result<(), AppError> {
    let mut opts = ctx.home_options();
    if encrypt {
        opts.passphrase = Some(passphrase::new_passphrase()?);
    }
    if std::io::stdin().is_terminal() {
        eprintln!("Type your 12-word recovery phrase, then Enter:");
    }
    let mut text = String::new();
    // One line, so a person typing ends with Enter rather than Ctrl-D.
    BufReader::new(std::io::stdin().take(MAX_PHRASE_BYTES))
        .read_line(&mut text)
        .map_err(|e| AppError::Io(format!("cannot read the phrase from stdin: {e}")))?;
    if text.trim().is_empty() {
        return Err(AppError::Usage(
            "no recovery phrase on stdin: type or pipe the 12 words".into(),
        ));
    }
    let m = Messenger::restore(&opts, text.trim(), name)?;
    say!("Restored account {}", m.account_id());
    publish_keys(ctx, &m).await?;
    Ok(())
}

/// `sotto id`: the ID alone on stdout, for scripts.
pub fn id(ctx: &Ctx, qr: bool) -> Result<(), AppError> {
    let m = ctx.open()?;
    let id = m.account_id().to_string();
    say!("{id}");
    if qr && let Some(lines) = crate::qr::render(&id) {
        for l in lines {
            say!("{l}");
        }
    }
    Ok(())
}
