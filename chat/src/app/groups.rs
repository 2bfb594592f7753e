//! `group …`: creating, changing, leaving and listing groups, and the
//! invitations of strangers. Sending to a group is `send GROUP TEXT`
//! (`messages.rs`), its messages show in `inbox` and `history`.
//!
//! A change (add, remove, rename, promote) is a commit the group's members
//! apply once its epoch has settled (ARCHITECTURE, Groups: a few seconds);
//! the command waits up to `--timeout` for that. A change that has not
//! settled by then is not lost: it is stored, and the next connected run
//! (any command that connects) finishes it.

use std::time::Duration;

use serde::Serialize;
use sotto_client::AccountId;
use sotto_client::chat::{ChatError, Messenger, short_id};
use sotto_client::group::{GroupId, GroupInfo};

use super::output::{self, line};
use super::people::title_of;
use super::{AppError, Ctx};
use crate::cli::GroupCmd;

/// One group (`group list --json`).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct GroupLine {
    /// The group's id, 64 hex digits.
    pub id: String,
    /// Its name.
    pub name: String,
    /// How many members it has (you included).
    pub members: usize,
    /// Its admins' account IDs.
    pub admins: Vec<String>,
    /// Its MLS epoch (how many changes it has seen).
    pub epoch: u64,
}

/// One member (`group info --json`).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct MemberLine {
    /// Account ID.
    pub id: String,
    /// Your name for them (a contact's title, "you", or a short ID).
    pub name: String,
    /// Whether they are an admin.
    pub admin: bool,
}

/// A group with its members (`group info --json`).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct GroupInfoLine {
    /// The group's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its MLS epoch.
    pub epoch: u64,
    /// Its members, sorted by account ID.
    pub members: Vec<MemberLine>,
}

/// An invitation (`group invites --json`).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct InviteLine {
    /// What `group accept` takes.
    pub id: String,
    /// Who invited (not a contact).
    pub from: String,
    /// When it came, unix ms.
    pub received_at: u64,
}

impl From<&GroupInfo> for GroupLine {
    fn from(g: &GroupInfo) -> Self {
        Self {
            id: g.id.to_hex(),
            name: g.meta.name.clone(),
            members: g.members.len(),
            admins: g.meta.admins.iter().map(ToString::to_string).collect(),
            epoch: g.epoch,
        }
    }
}

/// Carries out `group …`.
pub async fn group(ctx: &Ctx, cmd: GroupCmd) -> Result<(), AppError> {
    match cmd {
        GroupCmd::List { json } => {
            let m = ctx.open()?;
            let r = list(&m, json);
            ctx.close(&m).await;
            r
        }
        GroupCmd::Info { group, json } => {
            let m = ctx.open()?;
            let r = info(&m, &group, json);
            ctx.close(&m).await;
            r
        }
        GroupCmd::Set {
            group,
            receipts,
            typing,
        } => {
            let m = ctx.open()?;
            let r = set(&m, &group, receipts, typing);
            ctx.close(&m).await;
            r
        }
        GroupCmd::Rejoin { group } => {
            let m = ctx.open()?;
            let r = m.group(&group).map_err(AppError::from).and_then(|g| {
                let asked = m.rejoin_group(&g.id)?;
                say!(
                    "Asked {asked} admin(s) of {} to add you again; the first one online does.",
                    output::shown(&g.meta.name)
                );
                Ok(())
            });
            // The request leaves with the outbox: now if the network answers,
            // else on the next connected run.
            if r.is_ok()
                && let Ok(config) = ctx.client_config()
                && ctx.connect(&m, config).await.is_ok()
                && !super::history::outbox_drained(&m, Duration::from_secs(30)).await
            {
                super::console::err(format_args!(
                    "note: the request is queued and leaves on the next connected run"
                ))?;
            }
            ctx.close(&m).await;
            r
        }
        GroupCmd::Invites { json } => {
            let m = ctx.open()?;
            let r = invites(&m, json);
            ctx.close(&m).await;
            r
        }
        GroupCmd::Accept { id } => {
            let m = ctx.open()?;
            let r = m.accept_group_invite(&id).map_err(AppError::from);
            let r = r.and_then(|g| {
                let info = m.groups()?.into_iter().find(|i| i.id == g);
                let name = info.map_or_else(String::new, |i| i.meta.name);
                say!(
                    "Joined {} (id {}); its messages come with `sotto inbox`.",
                    output::shown(&name),
                    short_group(&g)
                );
                Ok(())
            });
            ctx.close(&m).await;
            r
        }
        GroupCmd::Decline { id } => {
            let m = ctx.open()?;
            let r = m.decline_group_invite(&id).map_err(AppError::from);
            let r = r.and_then(|from| {
                say!("Declined the invitation from {}.", title_of(&m, &from));
                Ok(())
            });
            ctx.close(&m).await;
            r
        }
        cmd => {
            let m = ctx.connected().await?;
            let r = change(&m, cmd).await;
            ctx.close(&m).await;
            r
        }
    }
}

/// The commands that need the network.
async fn change(m: &Messenger, cmd: GroupCmd) -> Result<(), AppError> {
    // Key packages are fetched and changes stored over onion paths.
    if !super::messages::wait_for_path(m, super::messages::PATH_WAIT).await? {
        return Err(AppError::Network(format!(
            "no onion path became ready within {}: is the network reachable?",
            crate::duration::format(super::messages::PATH_WAIT)
        )));
    }
    match cmd {
        GroupCmd::Create {
            name,
            members,
            timeout,
        } => {
            let accounts = accounts(m, &members)?;
            let id = m.create_group(&name, &accounts).await.map_err(no_package)?;
            say!(
                "Created {} (id {}) with {} member(s) besides you.",
                output::shown(&name),
                short_group(&id),
                accounts.len()
            );
            settle(m, &id, timeout, "The invitations").await
        }
        GroupCmd::Add {
            group,
            members,
            timeout,
        } => {
            let g = m.group(&group)?;
            let accounts = accounts(m, &members)?;
            m.add_to_group(&g.id, &accounts).await.map_err(no_package)?;
            settle(m, &g.id, timeout, "The addition").await?;
            report(m, &g.id, "Added", &accounts)
        }
        GroupCmd::Remove {
            group,
            members,
            timeout,
        } => {
            let g = m.group(&group)?;
            let accounts = accounts(m, &members)?;
            m.remove_from_group(&g.id, &accounts)?;
            settle(m, &g.id, timeout, "The removal").await?;
            report(m, &g.id, "Removed", &accounts)
        }
        GroupCmd::Rename {
            group,
            name,
            timeout,
        } => {
            let g = m.group(&group)?;
            m.rename_group(&g.id, &name)?;
            settle(m, &g.id, timeout, "The new name").await?;
            let now = m.group(&g.id.to_hex())?;
            say!("The group is now called {}.", output::shown(&now.meta.name));
            Ok(())
        }
        GroupCmd::Promote {
            group,
            member,
            timeout,
        } => {
            let g = m.group(&group)?;
            let who = super::resolve(m, &member)?;
            m.promote_in_group(&g.id, who)?;
            settle(m, &g.id, timeout, "The promotion").await?;
            let now = m.group(&g.id.to_hex())?;
            let is = if now.meta.admins.contains(&who) {
                "is"
            } else {
                "is not yet"
            };
            say!(
                "{} {is} an admin of {}.",
                title_of(m, &who),
                output::shown(&now.meta.name)
            );
            Ok(())
        }
        GroupCmd::Leave { group, timeout } => {
            let g = m.group(&group)?;
            m.leave_group(&g.id)?;
            settle(m, &g.id, timeout, "The request to leave").await?;
            say!(
                "You left {}: an admin's client removes you from it.",
                output::shown(&g.meta.name)
            );
            Ok(())
        }
        GroupCmd::List { .. }
        | GroupCmd::Set { .. }
        | GroupCmd::Rejoin { .. }
        | GroupCmd::Info { .. }
        | GroupCmd::Invites { .. }
        | GroupCmd::Accept { .. }
        | GroupCmd::Decline { .. } => Ok(()),
    }
}

/// Waits for what the group still has to do; says so when it did not come
/// in time (it is kept, and finished on the next connected run).
async fn settle(m: &Messenger, id: &GroupId, wait: Duration, what: &str) -> Result<(), AppError> {
    if !m.wait_group_settled(id, wait).await? {
        super::console::err(format_args!(
            "note: {what} has not settled within {}; it is stored and finishes the next time sotto is connected",
            crate::duration::format(wait)
        ))?;
    }
    Ok(())
}

/// Says who is (or is not yet) in the group after an addition or removal.
fn report(m: &Messenger, id: &GroupId, verb: &str, accounts: &[AccountId]) -> Result<(), AppError> {
    let g = m.group(&id.to_hex())?;
    let adding = verb == "Added";
    let (done, open): (Vec<&AccountId>, Vec<&AccountId>) = accounts
        .iter()
        .partition(|a| g.members.contains(a) == adding);
    let names = |list: &[&AccountId]| {
        list.iter()
            .map(|a| title_of(m, a))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !done.is_empty() {
        say!("{verb} {} ({}).", names(&done), output::shown(&g.meta.name));
    }
    if !open.is_empty() {
        say!("Not yet settled for {}.", names(&open));
    }
    Ok(())
}

/// The accounts `who` name (IDs, nicknames or display names).
fn accounts(m: &Messenger, who: &[String]) -> Result<Vec<AccountId>, AppError> {
    who.iter().map(|w| super::resolve(m, w)).collect()
}

/// A member without a key package is explained.
fn no_package(e: ChatError) -> AppError {
    match e {
        ChatError::Session(why) => AppError::Usage(format!(
            "cannot invite {why}\n(A member must have run sotto online once, as init does, so that its key package is published.)"
        )),
        other => other.into(),
    }
}

/// The first 16 hex digits of a group's id (enough to name it).
fn short_group(id: &GroupId) -> String {
    id.to_hex().chars().take(16).collect()
}

fn list(m: &Messenger, json: bool) -> Result<(), AppError> {
    let groups = m.groups()?;
    if json {
        for g in &groups {
            say!("{}", line(&GroupLine::from(g)));
        }
        return Ok(());
    }
    if groups.is_empty() {
        say!("No groups yet: `sotto group create NAME --member ID` makes one.");
    }
    for g in &groups {
        let admin = if g.meta.admins.contains(&m.account_id()) {
            ", you are an admin"
        } else {
            ""
        };
        say!(
            "{}  {} member(s){admin}  id {}",
            output::shown(&g.meta.name),
            g.members.len(),
            short_group(&g.id)
        );
    }
    let invites = m.group_invites()?.len();
    if invites > 0 {
        say!("{invites} invitation(s) from strangers wait: `sotto group invites`.");
    }
    Ok(())
}

fn member_name(m: &Messenger, who: &AccountId) -> String {
    if *who == m.account_id() {
        "you".into()
    } else {
        title_of(m, who)
    }
}

fn info(m: &Messenger, which: &str, json: bool) -> Result<(), AppError> {
    let g = m.group(which)?;
    let members: Vec<MemberLine> = g
        .members
        .iter()
        .map(|a| MemberLine {
            id: a.to_string(),
            name: member_name(m, a),
            admin: g.meta.admins.contains(a),
        })
        .collect();
    if json {
        say!(
            "{}",
            line(&GroupInfoLine {
                id: g.id.to_hex(),
                name: g.meta.name.clone(),
                epoch: g.epoch,
                members,
            })
        );
        return Ok(());
    }
    say!("Group: {}", output::shown(&g.meta.name));
    say!("ID: {}", g.id.to_hex());
    say!("Epoch: {} (each change starts a new one)", g.epoch);
    let prefs = m.group_prefs(&g.id)?;
    say!(
        "Read receipts {}, typing notices {} (`sotto group set`).",
        on_off(prefs.receipts),
        on_off(prefs.typing)
    );
    say!("Members ({}):", members.len());
    for member in &members {
        let admin = if member.admin { " (admin)" } else { "" };
        say!("  {}{admin}  {}", member.name, member.id);
    }
    Ok(())
}

/// `group set`: the receipt and typing switches (printed as they are now).
fn set(
    m: &Messenger,
    which: &str,
    receipts: Option<bool>,
    typing: Option<bool>,
) -> Result<(), AppError> {
    let g = m.group(which)?;
    let mut prefs = m.group_prefs(&g.id)?;
    prefs.receipts = receipts.unwrap_or(prefs.receipts);
    prefs.typing = typing.unwrap_or(prefs.typing);
    m.set_group_prefs(&g.id, prefs)?;
    say!(
        "{}: read receipts {}, typing notices {}.",
        output::shown(&g.meta.name),
        on_off(prefs.receipts),
        on_off(prefs.typing)
    );
    Ok(())
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn invites(m: &Messenger, json: bool) -> Result<(), AppError> {
    let list = m.group_invites()?;
    if json {
        for i in &list {
            say!(
                "{}",
                line(&InviteLine {
                    id: i.id.clone(),
                    from: i.from.to_string(),
                    received_at: i.received_at,
                })
            );
        }
        return Ok(());
    }
    if list.is_empty() {
        say!("No group invitations from strangers.");
    }
    for i in &list {
        say!(
            "{}  from {} ({})  at {}: `sotto group accept {}` or `decline`",
            i.id,
            short_id(&i.from),
            i.from,
            output::date_time(i.received_at),
            i.id
        );
    }
    Ok(())
}
