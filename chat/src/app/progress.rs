//! What `send` is waiting for, said on the terminal while it waits (stderr,
//! and only when stderr is a terminal: scripts get the result alone).

use std::time::Duration;

use sotto_client::PathStatus;
use sotto_client::chat::{ChatEvent, MessageId, Messenger};
use tokio::task::JoinHandle;

use super::console::{self, Sink, Stream};

/// A send that finishes this quickly says nothing but its result.
const QUIET_START: Duration = Duration::from_secs(1);
/// How often the state is looked at besides events.
const TICK: Duration = Duration::from_millis(500);

/// The running reporter; [`Progress::finish`] stops it.
pub struct Progress {
    task: JoinHandle<()>,
}

impl Progress {
    /// Stops reporting (the result line follows).
    pub fn finish(self) {
        self.task.abort();
    }
}

/// Starts reporting what the send of `id` waits for, if stderr is a terminal.
pub fn on_terminal(m: &Messenger, id: MessageId) -> Option<Progress> {
    // The command's stderr: the client's, when the command runs for one.
    if !console::stderr_is_terminal() {
        return None;
    }
    let m = m.clone();
    Some(Progress {
        task: tokio::spawn(report(m, id, console::current())),
    })
}

/// What the message waits for now, in words.
pub fn waiting_for(m: &Messenger, last_failure: Option<&str>) -> String {
    if let Some(problem) = m.bootstrap_problem() {
        return format!("waiting: {problem}");
    }
    match (m.path_status(), last_failure) {
        (_, Some(reason)) => format!("not sent yet ({reason}); trying again"),
        (PathStatus::Ready { .. }, None) => {
            "handing the message to the recipient's storage nodes".into()
        }
        (PathStatus::Building, None) => "building an onion path to the network".into(),
        (PathStatus::Offline, None) => {
            "no onion path can be built yet (the nodes do not answer); still trying".into()
        }
    }
}

async fn report(m: Messenger, id: MessageId, sink: Sink) {
    let mut events = m.subscribe();
    tokio::time::sleep(QUIET_START).await;
    let mut said = String::new();
    let mut failure: Option<String> = None;
    loop {
        let now = waiting_for(&m, failure.as_deref());
        if now != said {
            if sink
                .line(Stream::Err, format_args!("sotto: {now}…"))
                .is_err()
            {
                return;
            }
            said = now;
        }
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(ChatEvent::SendFailed { id: failed, reason, .. }) if failed == id => {
                    failure = Some(reason);
                }
                Ok(ChatEvent::Path(PathStatus::Ready { .. })) => failure = None,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                _ => {}
            },
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}
