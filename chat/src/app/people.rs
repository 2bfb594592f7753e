//! `contacts`, `requests`, `verify` and `disappear`.

use sotto_client::AccountId;
use sotto_client::chat::{Disappearing, Messenger, VerificationStatus};

use super::output::{self, ContactLine, RequestLine};
use super::{AppError, Ctx};
use crate::cli::{ContactsCmd, DisappearCmd, RequestsCmd};

fn parse_id(text: &str) -> Result<AccountId, AppError> {
    text.trim()
        .parse()
        .map_err(|e| AppError::Usage(format!("{text:?} is not an account ID: {e}")))
}

/// Opens the account, connected when a bootstrap node is known, so notices
/// to the other side (accepted, declined, timer changed) go out now; without
/// one they wait in the outbox for the next connected run.
pub(super) async fn open_maybe_connected(ctx: &Ctx) -> Result<(Messenger, bool), AppError> {
    match ctx.client_config() {
        Ok(config) => {
            let m = ctx.open()?;
            match ctx.connect(&m, config).await {
                Ok(()) => Ok((m, true)),
                Err(e) => {
                    super::console::err(format_args!(
                        "note: offline ({e}); the other side is told on the next run"
                    ))?;
                    Ok((m, false))
                }
            }
        }
        Err(_) => Ok((ctx.open()?, false)),
    }
}

/// A peer as a person knows them: the contact's title, else a short ID.
pub(super) fn title_of(m: &Messenger, peer: &AccountId) -> String {
    let title = m
        .contacts()
        .ok()
        .and_then(|cs| cs.into_iter().find(|c| c.id == *peer))
        .map_or_else(|| sotto_client::chat::short_id(peer), |c| c.title());
    output::shown(&title)
}

/// `sotto contacts …`.
pub fn contacts(ctx: &Ctx, cmd: ContactsCmd) -> Result<(), AppError> {
    let m = ctx.open()?;
    match cmd {
        ContactsCmd::Add { id, name } => {
            let id = parse_id(&id)?;
            // Adding someone again does not quietly rename them.
            if let Some(old) = m.contacts()?.into_iter().find(|c| c.id == id) {
                let wanted = name.as_deref().filter(|n| !n.is_empty());
                if wanted.is_some() && wanted != old.nickname.as_deref() {
                    return Err(AppError::Usage(format!(
                        "{id} is already a contact, as {:?}: to rename them, run sotto contacts rename {id} NAME",
                        old.title()
                    )));
                }
                say!(
                    "Already a contact: {} ({})",
                    output::shown(&old.title()),
                    old.id
                );
                return Ok(());
            }
            let c = m.add_contact(id, name.as_deref())?;
            say!("Added {} ({})", output::shown(&c.title()), c.id);
        }
        ContactsCmd::Rename { contact, name } => {
            let id = super::resolve(&m, &contact)?;
            if !m.contacts()?.iter().any(|c| c.id == id) {
                return Err(AppError::Usage(format!(
                    "{contact:?} is not a contact: add them with sotto contacts add ID --name NAME"
                )));
            }
            let c = m.add_contact(id, Some(&name))?;
            say!("Renamed: {} ({})", output::shown(&c.title()), c.id);
        }
        ContactsCmd::Remove { contact } => {
            let id = super::resolve(&m, &contact)?;
            let title = title_of(&m, &id);
            m.remove_contact(&id)?;
            say!(
                "Removed {title} ({id}). The conversation stays; their new messages arrive as requests."
            );
        }
        ContactsCmd::List { json } => {
            let list = m.contacts()?;
            if json {
                for c in &list {
                    say!("{}", output::line(&ContactLine::from(c)));
                }
            } else if list.is_empty() {
                say!("No contacts yet: sotto contacts add <account ID> --name <name>");
            } else {
                for c in &list {
                    let mark = match c.verified {
                        VerificationStatus::Verified => " (verified)",
                        VerificationStatus::Changed => " (KEY CHANGED: verify again)",
                        VerificationStatus::Unverified => "",
                    };
                    say!("{}  {}{mark}", output::shown(&c.title()), c.id);
                }
            }
        }
    }
    Ok(())
}

/// A request's sender: an account ID, or the display name of exactly one
/// pending request.
fn request_sender(m: &Messenger, who: &str) -> Result<AccountId, AppError> {
    if let Ok(id) = who.trim().parse::<AccountId>() {
        return Ok(id);
    }
    let wanted = who.trim().to_lowercase();
    let matches: Vec<AccountId> = m
        .requests()?
        .into_iter()
        .filter(|r| r.display_name.as_deref().map(str::to_lowercase) == Some(wanted.clone()))
        .map(|r| r.from)
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(AppError::Usage(format!(
            "no pending request from {who:?}: see sotto requests list"
        ))),
        _ => Err(AppError::Usage(format!(
            "several requests are from {who:?}: use the account ID"
        ))),
    }
}

/// `sotto requests …`.
pub async fn requests(ctx: &Ctx, cmd: RequestsCmd) -> Result<(), AppError> {
    if let RequestsCmd::List { json } = cmd {
        let m = ctx.open()?;
        let list = m.requests()?;
        if json {
            for r in &list {
                say!("{}", output::line(&RequestLine::from(r)));
            }
        } else if list.is_empty() {
            say!("No message requests.");
        } else {
            for r in &list {
                let who = r
                    .display_name
                    .as_deref()
                    .map_or("(no name)".into(), output::shown);
                say!("{who}  {}  {} message(s)", r.from, r.messages);
                say!("    “{}”", output::shown(&r.first_text));
            }
            say!("Answer with: sotto requests accept|decline|block <account ID>");
        }
        return Ok(());
    }
    if let RequestsCmd::Unblock { id } = &cmd {
        // Local only: the other side was never told of the block.
        let m = ctx.open()?;
        let who = parse_id(id)?;
        if !m.blocked()?.contains(&who) {
            say!("{who} was not blocked.");
            return Ok(());
        }
        m.unblock(&who)?;
        say!(
            "Unblocked {who}: their new messages arrive again (as requests unless they are a contact)."
        );
        return Ok(());
    }
    let (m, _) = open_maybe_connected(ctx).await?;
    let result = async {
        match cmd {
            RequestsCmd::Accept { id } => {
                let from = request_sender(&m, &id)?;
                m.accept_request(&from).await?;
                say!("Accepted: {from} is now a contact.");
            }
            RequestsCmd::Decline { id } => {
                let from = request_sender(&m, &id)?;
                m.decline_request(&from).await?;
                say!("Declined the request from {from}.");
            }
            RequestsCmd::Block { id } => {
                let from = request_sender(&m, &id)?;
                m.block(&from).await?;
                say!("Blocked {from}: their messages will be dropped.");
            }
            RequestsCmd::List { .. } | RequestsCmd::Unblock { .. } => {}
        }
        Ok::<(), AppError>(())
    }
    .await;
    ctx.close(&m).await;
    result
}

/// `sotto verify CONTACT [--mark]`.
pub fn verify(ctx: &Ctx, who: &str, mark: bool) -> Result<(), AppError> {
    let m = ctx.open()?;
    let peer = super::resolve(&m, who)?;
    if mark {
        m.mark_verified(&peer)?;
        say!("Marked {who} verified. You will be warned if their key ever changes.");
        return Ok(());
    }
    let v = m.verification(&peer)?;
    say!("Verification code with {who}:");
    say!();
    for line in v.code.lines() {
        say!("    {line}");
    }
    say!();
    if let Some(qr) = crate::qr::render(&v.code.digits()) {
        for l in qr {
            say!("  {l}");
        }
        say!();
    }
    match v.status {
        VerificationStatus::Verified => say!("Status: verified."),
        VerificationStatus::Unverified => say!(
            "Status: not verified. Compare the digits with {who} in person or on a call, then run: sotto verify {who} --mark"
        ),
        VerificationStatus::Changed => say!(
            "WARNING: this code differs from the one you verified. {who}'s key changed: check with them before trusting this conversation."
        ),
    }
    Ok(())
}

/// `sotto disappear CONTACT off|after-send D|after-read D`.
pub async fn disappear(ctx: &Ctx, who: &str, mode: DisappearCmd) -> Result<(), AppError> {
    let (m, _) = open_maybe_connected(ctx).await?;
    let result = async {
        let peer = super::resolve(&m, who)?;
        let mode = match mode {
            DisappearCmd::Off => Disappearing::Off,
            DisappearCmd::AfterSend { duration } => Disappearing::AfterSend(duration),
            DisappearCmd::AfterRead { duration } => Disappearing::AfterRead(duration),
        };
        m.set_disappearing(&peer, mode).await?;
        say!("Disappearing messages with {who}: {}", describe(mode));
        Ok::<(), AppError>(())
    }
    .await;
    ctx.close(&m).await;
    result
}

/// Words for a disappearing mode.
pub fn describe(mode: Disappearing) -> String {
    match mode {
        Disappearing::Off => "off".into(),
        Disappearing::AfterSend(d) => format!("{} after sending", crate::duration::format(d)),
        Disappearing::AfterRead(d) => format!("{} after reading", crate::duration::format(d)),
    }
}
