//! Store calls off the async threads, and how their failures become answers.

use sotto_protocol::rpc::{ErrorKind, Response};

use super::Service;
use crate::context::Context;
use crate::store::StoreError;

/// Why a store call on a blocking thread did not return a value.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The store refused or failed.
    Store(StoreError),
    /// The blocking task panicked or was cancelled (the runtime is shutting
    /// down).
    Task(tokio::task::JoinError),
}

/// Runs `f` (store calls, which block on disk) on tokio's blocking pool.
pub(super) async fn blocking<T, F>(f: F) -> Result<T, Failure>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::Store(e)),
        Err(e) => Err(Failure::Task(e)),
    }
}

impl Service {
    /// The answer for a failed store call during `op` ([`failure_answer`]).
    pub(super) fn failure(&self, op: &'static str, failure: Failure) -> Response {
        failure_answer(&self.ctx, op, failure)
    }
}

/// The answer for a failed store call during `op`: refusals (quota, disk
/// watermark, deleted, expired) say what the client can do; failures of
/// the node are logged for the operator and answered without their
/// details, and a fatal one stops the node ([`crate::store::Store::report`]).
pub(super) fn failure_answer(ctx: &Context, op: &'static str, failure: Failure) -> Response {
    let error = |kind, message: &str| Response::error(kind, message, ctx.clock.now());
    {
        if let Failure::Store(e) = &failure {
            ctx.store.report(e);
        }
        match failure {
            Failure::Store(e @ StoreError::QuotaExceeded { .. }) => {
                // The store's message names the scope (account or node) and
                // the numbers, which is what the client needs to decide
                // whether to wait or to try another swarm member.
                error(ErrorKind::QuotaExceeded, &e.to_string())
            }
            Failure::Store(e @ StoreError::DiskFull { .. }) => {
                // Another member of the swarm can take it: `Unavailable` tells
                // the client to try one, and the message says why.
                error(ErrorKind::Unavailable, &e.to_string())
            }
            Failure::Store(e @ (StoreError::Deleted { .. } | StoreError::Expired { .. })) => {
                error(ErrorKind::BadRequest, &e.to_string())
            }
            Failure::Store(e) if e.is_fatal() => {
                // Logged once, by the node as it stops.
                error(
                    ErrorKind::Unavailable,
                    "the node is stopping after a storage failure",
                )
            }
            Failure::Store(e) => {
                tracing::error!(op, "store failure: {e}");
                error(ErrorKind::Internal, &format!("storage failure during {op}"))
            }
            Failure::Task(e) if e.is_cancelled() => {
                error(ErrorKind::Unavailable, "the node is shutting down")
            }
            Failure::Task(e) => {
                tracing::error!(op, "store task failed: {e}");
                error(
                    ErrorKind::Internal,
                    &format!("internal failure during {op}"),
                )
            }
        }
    }
}
