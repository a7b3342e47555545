//! A TCP proxy that a test can take down and bring back, put in front of PostgreSQL to
//! play a warehouse outage: while it is down, every open connection is cut and every new
//! one is closed as soon as it is accepted, as a crashed or restarting server does.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy; it stops when dropped.
pub struct OutageProxy {
    /// The local port to connect to instead of the upstream's.
    pub port: u16,
    down: Arc<watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OutageProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OutageProxy {
    /// Proxies 127.0.0.1:`port` to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> anyhow::Result<OutageProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let down = Arc::new(watch::Sender::new(false));
        let (shared, upstream) = (down.clone(), upstream.to_owned());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *shared.borrow() {
                    continue; // dropped: closed at once
                }
                tokio::spawn(relay(client, upstream.clone(), shared.subscribe()));
            }
        });
        Ok(OutageProxy { port, down, task })
    }

    /// Proxies to the host and port of a `postgres://` URL; returns the proxy and the URL
    /// rewritten to go through it.
    pub async fn for_database(url: &str) -> anyhow::Result<(OutageProxy, String)> {
        let (scheme, rest) = url.split_once("://").context("a database URL has a scheme")?;
        let (credentials, location) = rest.rsplit_once('@').map_or(("", rest), |(c, l)| (c, l));
        let (host_port, database) = location.split_once('/').context("a database URL names its database")?;
        let proxy = OutageProxy::start(host_port).await?;
        let at = if credentials.is_empty() { String::new() } else { format!("{credentials}@") };
        let proxied = format!("{scheme}://{at}127.0.0.1:{}/{database}", proxy.port);
        Ok((proxy, proxied))
    }

    /// Takes the upstream down (every connection cut) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }
}

/// Copies both ways until either side closes or the proxy goes down.
async fn relay(mut client: TcpStream, upstream: String, mut down: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = down.wait_for(|down| *down) => {}
    }
}
