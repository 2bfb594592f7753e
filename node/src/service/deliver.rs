//! Deliveries into an account's inbox or requests
//! ([`sotto_protocol::rpc::deliver`]): the delivery token check and the
//! requests' own rate.

use sotto_protocol::rpc::{DeliveryToken, ErrorKind, Response};
use sotto_protocol::{AccountId, UnixMillis};

use super::Service;
use super::blocking::blocking;

impl Service {
    /// Whether a store into `account`'s inbox may go in: yes if the owner
    /// stored no delivery token (an open inbox), or if `token` hashes to one
    /// it stored; otherwise the `TokenRequired` answer. One short read of the
    /// owner's [`sotto_protocol::Namespace::DELIVERY`] items.
    pub(super) async fn check_token(
        &self,
        account: &AccountId,
        token: Option<DeliveryToken>,
        now: UnixMillis,
    ) -> Result<(), Response> {
        let store = self.ctx.store.clone();
        let acc = *account;
        let hashes = match blocking(move || store.delivery_token_hashes(&acc, now)).await {
            Ok(h) => h,
            Err(f) => return Err(self.failure("token check", f)),
        };
        if hashes.is_empty() {
            return Ok(());
        }
        let given = token.map(|t| t.stored_hash());
        if given.is_some_and(|g| hashes.contains(&g)) {
            return Ok(());
        }
        let reason = if token.is_some() {
            "wrong_token"
        } else {
            "token_required"
        };
        self.ctx.metrics.rejected.inc("rpc", reason);
        Err(self.error(
            ErrorKind::TokenRequired,
            "this inbox takes deliveries with its owner's current token only",
        ))
    }

    /// Takes one token of `account`'s message-request bucket (apart from its
    /// store rate), or the `RateLimited` answer.
    pub(super) fn charge_request(
        &self,
        account: &AccountId,
        now: UnixMillis,
    ) -> Result<(), Response> {
        let mut rate = match self.request_rate.lock() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        rate.check(account, now).map_err(|retry_after_ms| {
            self.ctx.metrics.rejected.inc("rpc", "request_rate_limited");
            self.error(
                ErrorKind::RateLimited { retry_after_ms },
                "this account takes no more message requests on this node for now",
            )
        })
    }
}
