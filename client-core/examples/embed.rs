//! How a program embeds Sotto's chat library, in one page.
//!
//! ```text
//! cargo run -p sotto-client --example embed -- \
//!     --home /tmp/sotto-demo --bootstrap /ip4/127.0.0.1/tcp/4001/p2p/12D3Koo… \
//!     [--network devnet] [--name Ann] [--to sotto1… --text "hello"]
//! ```
//!
//! It opens the home (or creates an account there and prints its recovery
//! phrase once), connects, optionally sends one message, then prints every
//! event until Ctrl-C.

use std::time::Duration;

use sotto_client::chat::{ChatEvent, HomeOptions, MessageState, Messenger};
use sotto_client::{AccountId, ClientConfig};
use sotto_protocol::NetworkParams;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let home = arg("--home").ok_or("--home DIR is required")?;
    let bootstrap = arg("--bootstrap").ok_or("--bootstrap MULTIADDR is required")?;
    let network = arg("--network").unwrap_or_else(|| "devnet".into());

    // Open the home, or make a new account in it.
    let opts = HomeOptions {
        home: home.into(),
        passphrase: std::env::var("SOTTO_PASSPHRASE").ok(),
    };
    let messenger = match Messenger::open(&opts) {
        Ok(m) => m,
        Err(sotto_client::chat::ChatError::NoAccount { .. }) => {
            let (m, phrase) = Messenger::create(&opts, arg("--name").as_deref())?;
            println!(
                "new account; write down its recovery phrase: {}",
                phrase.as_str()
            );
            m
        }
        Err(e) => return Err(e.into()),
    };
    println!("account: {}", messenger.account_id());

    // Subscribe before connecting so no event is missed, then connect.
    let mut events = messenger.subscribe();
    let config = ClientConfig::new(NetworkParams::preset(&network)?, vec![bootstrap.parse()?]);
    messenger.connect(config).await?;

    if let (Some(to), Some(text)) = (arg("--to"), arg("--text")) {
        let to = AccountId::parse(&to)?;
        let id = messenger.send_text(&to, &text).await?;
        match messenger
            .wait_state(&id, MessageState::Sent, Duration::from_secs(60))
            .await
        {
            Ok(state) => println!("message {id}: {state}"),
            Err(e) => println!("message {id}: {e}"),
        }
    }

    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            event = events.recv() => match event {
                Ok(ChatEvent::Message(m)) => {
                    println!("{} says: {}", m.peer, m.text);
                    messenger.mark_read(&m.peer).await?;
                }
                Ok(other) => println!("{other:?}"),
                // Fell behind: the store has everything; read it again.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    println!("missed {n} events; {} unseen messages", messenger.take_unseen().await?.len());
                }
                Err(_) => break,
            },
        }
    }
    messenger.shutdown().await;
    Ok(())
}
