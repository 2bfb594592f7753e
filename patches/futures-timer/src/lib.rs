//! `futures_timer::Delay` on tokio's timer wheel.
//!
//! libp2p takes its timeouts from `futures-timer` (request-response's per
//! stream timeout, the swarm's idle-connection timer, transport upgrades,
//! identify, ping, gossipsub). That crate runs one helper thread for every
//! timer in the process and wakes it through the OS each time a `Delay` is
//! made and again when one is dropped. A request-response request makes a
//! `Delay` on both ends, so every onion hop woke that thread about four times:
//! on the 2-core build machine it made 19 context switches of the 45 an onion
//! ping through three relays cost (`/proc/PID/task/*/status` of the node
//! latency bench), more than either runtime worker.
//!
//! Here a `Delay` is a tokio `Sleep`: made and dropped under the timer wheel's
//! lock, with no thread woken, and fired by the runtime's own driver. It needs
//! a tokio runtime with time enabled in the context that makes it (every
//! Sotto runtime is built with `enable_all`); made outside any runtime, it
//! lives on a small runtime of its own, started on a thread the first time
//! that happens. Polled from anywhere, it wakes whatever task polled it last.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};
use tokio::time::{Instant, Sleep};

/// A future that completes once its duration has passed (futures-timer's
/// type and API: `new`, `reset`, and `Future<Output = ()>`).
pub struct Delay {
    sleep: Pin<Box<Sleep>>,
}

impl Delay {
    /// A delay that completes `dur` from now.
    pub fn new(dur: Duration) -> Delay {
        let deadline = deadline(dur);
        match Handle::try_current() {
            Ok(_) => Delay {
                sleep: Box::pin(tokio::time::sleep_until(deadline)),
            },
            Err(_) => {
                let _entered = fallback().map(Handle::enter);
                Delay {
                    sleep: Box::pin(tokio::time::sleep_until(deadline)),
                }
            }
        }
    }

    /// Makes this delay complete `dur` from now instead, whether or not it
    /// has completed already.
    pub fn reset(&mut self, dur: Duration) {
        self.sleep.as_mut().reset(deadline(dur));
    }
}

/// `dur` from now, or as far ahead as tokio's clock goes for a `dur` too
/// large to add (`Duration::MAX` means "never" to some callers).
fn deadline(dur: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(dur)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

/// The runtime of delays made outside any tokio runtime: one current-thread
/// runtime with time enabled, driven by its own thread. `None` only if it
/// could not be started; then `Delay::new` panics in tokio, as it would have
/// without a runtime (no Sotto binary makes delays outside one).
fn fallback() -> Option<&'static Handle> {
    static FALLBACK: OnceLock<Option<Handle>> = OnceLock::new();
    FALLBACK
        .get_or_init(|| {
            let runtime: Runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .ok()?;
            let handle = runtime.handle().clone();
            std::thread::Builder::new()
                .name("delay-timer".into())
                .spawn(move || runtime.block_on(std::future::pending::<()>()))
                .ok()?;
            Some(handle)
        })
        .as_ref()
}

impl Future for Delay {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.sleep.as_mut().poll(cx)
    }
}

impl std::fmt::Debug for Delay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delay")
            .field("deadline", &self.sleep.deadline())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn completes_after_its_duration_and_again_after_a_reset() {
        let start = Instant::now();
        let mut delay = Delay::new(Duration::from_millis(300));
        (&mut delay).await;
        assert_eq!(start.elapsed(), Duration::from_millis(300));
        delay.reset(Duration::from_millis(50));
        delay.await;
        assert_eq!(start.elapsed(), Duration::from_millis(350));
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_moves_a_pending_delay() {
        let start = Instant::now();
        let mut delay = Delay::new(Duration::from_secs(10));
        assert!(futures::poll!(&mut delay).is_pending());
        delay.reset(Duration::from_millis(20));
        delay.await;
        assert_eq!(start.elapsed(), Duration::from_millis(20));
    }

    #[test]
    fn works_outside_any_runtime() {
        let start = std::time::Instant::now();
        futures::executor::block_on(Delay::new(Duration::from_millis(30)));
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn a_huge_duration_does_not_overflow() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .ok();
        let Some(rt) = rt else { return };
        rt.block_on(async {
            let mut delay = Delay::new(Duration::MAX);
            assert!(futures::poll!(&mut delay).is_pending());
            delay.reset(Duration::from_millis(1));
            delay.await;
        });
    }
}
