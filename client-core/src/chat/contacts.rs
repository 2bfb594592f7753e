//! Contacts, message requests, blocking and verification.

use sotto_protocol::AccountId;
use sotto_protocol::envelope::ContentBody;

use super::records::{ContactRecord, RequestRecord};
use super::{
    ChatError, Contact, MessageRequest, Messenger, Verification, VerificationStatus, check_name,
};
use crate::verification::verification_code_v1;
use crate::verification_code;

impl Messenger {
    /// Adds (or renames) a contact; a new contact is sent this account's
    /// display name.
    pub fn add_contact(&self, id: AccountId, nickname: Option<&str>) -> Result<Contact, ChatError> {
        if let Some(n) = nickname {
            check_name(n)?;
        }
        let s = &self.inner.store;
        let old: Option<ContactRecord> = s.get(&s.contacts, id.as_bytes())?;
        if old.is_none() {
            // A new contact learns this account's display name (queued: it
            // goes out with the next connect), and the delivery token that
            // lets its messages into this account's inbox.
            self.inner.enqueue_profile(&id)?;
            self.inner.enqueue_token(&id)?;
        }
        let rec = ContactRecord {
            nickname: nickname.filter(|n| !n.is_empty()).map(str::to_owned),
            added_at: old.map_or_else(|| self.inner.now(), |o| o.added_at),
        };
        s.put(&s.contacts, id.as_bytes(), &rec)?;
        s.flush()?;
        self.contact(&id)?
            .ok_or(ChatError::UnknownContact(id.to_text()))
    }

    /// Removes a contact (the conversation stays).
    pub fn remove_contact(&self, id: &AccountId) -> Result<(), ChatError> {
        let s = &self.inner.store;
        if s.contacts.remove(id.as_bytes())?.is_none() {
            return Err(ChatError::UnknownContact(id.to_text()));
        }
        s.flush()
    }

    fn contact(&self, id: &AccountId) -> Result<Option<Contact>, ChatError> {
        let s = &self.inner.store;
        let Some(rec) = s.get::<ContactRecord>(&s.contacts, id.as_bytes())? else {
            return Ok(None);
        };
        Ok(Some(Contact {
            id: *id,
            nickname: rec.nickname,
            display_name: s.conv(id)?.display_name,
            verified: self.verification_status(id)?,
            added_at: rec.added_at,
        }))
    }

    /// Every contact, by account id.
    pub fn contacts(&self) -> Result<Vec<Contact>, ChatError> {
        let s = &self.inner.store;
        let mut out = Vec::new();
        for (k, _) in s.scan::<ContactRecord>(&s.contacts, &[])? {
            let Some(id) = super::records::peer_of_key(&k) else {
                continue;
            };
            if let Some(c) = self.contact(&id)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// An account id, or a contact's nickname or display name (exact, any case).
    pub fn resolve(&self, who: &str) -> Result<AccountId, ChatError> {
        if let Ok(id) = AccountId::parse(who.trim()) {
            return Ok(id);
        }
        let wanted = who.trim().to_lowercase();
        let named = |n: &Option<String>| n.as_ref().is_some_and(|n| n.to_lowercase() == wanted);
        let hits: Vec<AccountId> = self
            .contacts()?
            .into_iter()
            .filter(|c| named(&c.nickname) || named(&c.display_name))
            .map(|c| c.id)
            .collect();
        match hits.as_slice() {
            [one] => Ok(*one),
            [] => Err(ChatError::UnknownContact(who.to_owned())),
            _ => Err(ChatError::Ambiguous(who.to_owned())),
        }
    }

    /// Pending message requests, oldest first.
    pub fn requests(&self) -> Result<Vec<MessageRequest>, ChatError> {
        let s = &self.inner.store;
        let mut out = Vec::new();
        for (k, rec) in s.scan::<RequestRecord>(&s.requests, &[])? {
            let Some(from) = super::records::peer_of_key(&k) else {
                continue;
            };
            let msgs: Vec<_> = s
                .conversation(&from)?
                .into_iter()
                .filter(|(_, r)| r.msg.request)
                .collect();
            out.push(MessageRequest {
                from,
                display_name: s.conv(&from)?.display_name,
                messages: msgs.len(),
                first_text: msgs
                    .first()
                    .map(|(_, r)| r.msg.text.clone())
                    .unwrap_or_default(),
                received_at: rec.received_at,
            });
        }
        out.sort_by_key(|r| r.received_at);
        Ok(out)
    }

    /// Accepts a request: the sender becomes a contact and is told.
    pub async fn accept_request(&self, from: &AccountId) -> Result<(), ChatError> {
        let s = &self.inner.store;
        if s.requests.remove(from.as_bytes())?.is_none() {
            return Err(ChatError::UnknownContact(from.to_text()));
        }
        // Adding the contact also sends them the profile.
        if !s.contacts.contains_key(from.as_bytes())? {
            self.add_contact(*from, None)?;
        } else {
            self.inner.enqueue_profile(from)?;
            self.inner.enqueue_token(from)?;
        }
        let mut delivered = Vec::new();
        for (key, rec) in s.conversation(from)? {
            if rec.msg.request {
                let mut new = rec.clone();
                new.msg.request = false;
                s.update_message(&key, &rec, &new)?;
                delivered.push(rec.msg.id.0);
            }
        }
        // Strangers get no receipts (they would tell a spammer the account
        // is read); once accepted, the waiting messages count as delivered.
        for ids in delivered.chunks(sotto_protocol::constants::MAX_CONTENT_IDS) {
            self.inner.enqueue(
                from,
                ContentBody::Receipt {
                    kind: sotto_protocol::envelope::ReceiptKind::Delivered,
                    ids: ids.to_vec(),
                },
                None,
            )?;
        }
        self.inner
            .enqueue(from, ContentBody::RequestResponse { accepted: true }, None)?;
        self.flush().await
    }

    /// Declines a request: its messages are dropped and the sender is told.
    pub async fn decline_request(&self, from: &AccountId) -> Result<(), ChatError> {
        let s = &self.inner.store;
        if s.requests.remove(from.as_bytes())?.is_none() {
            return Err(ChatError::UnknownContact(from.to_text()));
        }
        self.drop_requests(from)?;
        self.inner
            .enqueue(from, ContentBody::RequestResponse { accepted: false }, None)?;
        self.flush().await
    }

    fn drop_requests(&self, from: &AccountId) -> Result<(), ChatError> {
        let s = &self.inner.store;
        for (key, rec) in s.conversation(from)? {
            if rec.msg.request {
                s.remove_message(&key, &rec)?;
            }
        }
        Ok(())
    }

    /// Blocks an account: its pending request goes, and everything it sends
    /// from now on is dropped (and counted). It is not told.
    pub async fn block(&self, id: &AccountId) -> Result<(), ChatError> {
        let s = &self.inner.store;
        s.blocked.insert(id.as_bytes(), &[][..])?;
        if s.requests.remove(id.as_bytes())?.is_some() {
            self.drop_requests(id)?;
        }
        // Whoever this account gave its delivery token (a contact, someone
        // it wrote to) could keep writing into its inbox: a new token
        // replaces it, and the other contacts are sent the new one.
        let mut offered = b"s".to_vec();
        offered.extend_from_slice(id.as_bytes());
        if s.tokens.contains_key(&offered)? {
            s.tokens.remove(&offered)?;
            self.inner.rotate_token()?;
        }
        self.flush().await
    }

    /// Unblocks an account.
    pub fn unblock(&self, id: &AccountId) -> Result<(), ChatError> {
        let s = &self.inner.store;
        s.blocked.remove(id.as_bytes())?;
        s.flush()
    }

    /// Blocked accounts.
    pub fn blocked(&self) -> Result<Vec<AccountId>, ChatError> {
        let s = &self.inner.store;
        let mut out = Vec::new();
        for item in s.blocked.iter() {
            let (k, _) = item?;
            if let Some(id) = super::records::peer_of_key(&k) {
                out.push(id);
            }
        }
        Ok(out)
    }

    fn verification_status(&self, peer: &AccountId) -> Result<VerificationStatus, ChatError> {
        let s = &self.inner.store;
        let code = verification_code(&self.inner.id, peer).digits();
        Ok(match s.get::<String>(&s.verified, peer.as_bytes())? {
            None => VerificationStatus::Unverified,
            Some(stored) if stored == code => VerificationStatus::Verified,
            // Marked under the version-1 code (one joint hash): the same two keys.
            Some(stored) if stored == verification_code_v1(&self.inner.id, peer).digits() => {
                VerificationStatus::Verified
            }
            Some(_) => VerificationStatus::Changed,
        })
    }

    /// The conversation's verification code and whether it was checked.
    pub fn verification(&self, peer: &AccountId) -> Result<Verification, ChatError> {
        Ok(Verification {
            code: verification_code(&self.inner.id, peer),
            status: self.verification_status(peer)?,
        })
    }

    /// Records that the user compared the code with the peer.
    pub fn mark_verified(&self, peer: &AccountId) -> Result<(), ChatError> {
        let s = &self.inner.store;
        let code = verification_code(&self.inner.id, peer).digits();
        s.put(&s.verified, peer.as_bytes(), &code)?;
        s.flush()
    }
}
