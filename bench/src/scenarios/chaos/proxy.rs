//! A TCP proxy in front of PostgreSQL, MariaDB or Redis, so that a chaos run can play the
//! server restarting or stalling for its own installation without touching the machine's
//! shared servers (other installations, and other people's tests, use them meanwhile).
//!
//! - **Cut** ("restart"): every connection through the proxy is dropped, and new ones are
//!   closed as soon as they arrive, until it is restored — what clients see of a server that
//!   went down and came back.
//! - **Stall**: connections stay open but no byte passes either way, and new ones wait — a
//!   server that stopped answering (`SIGSTOP`), not one that died.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwards both ways.
    Up,
    /// Drops every connection and every new one.
    Cut,
    /// Holds every byte and every new connection until the mode changes.
    Stalled,
}

/// A running proxy; it stops when dropped.
pub struct Proxy {
    /// The address clients connect to.
    pub address: SocketAddr,
    mode: watch::Sender<Mode>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy on a free port of 127.0.0.1 forwarding to `upstream` (`host:port`), up.
    pub async fn start(upstream: String) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding a proxy port")?;
        let address = listener.local_addr()?;
        let (mode, watch) = watch::channel(Mode::Up);
        let task = tokio::spawn(accept(listener, upstream, watch));
        Ok(Self {
            address,
            mode,
            task,
        })
    }

    /// Switches to `mode`; a cut drops every open connection at once.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.mode.send_replace(Mode::Cut);
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, upstream: String, mode: watch::Receiver<Mode>) {
    while let Ok((client, _)) = listener.accept().await {
        let mut mode = mode.clone();
        let upstream = upstream.clone();
        tokio::spawn(async move {
            // A new connection waits out a stall, and is closed while cut.
            let Ok(now) = mode.wait_for(|m| *m != Mode::Stalled).await.map(|m| *m) else {
                return;
            };
            if now == Mode::Cut {
                return;
            }
            let Ok(server) = TcpStream::connect(&upstream).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::select! {
                () = pipe(client_read, server_write, mode.clone()) => {}
                () = pipe(server_read, client_write, mode.clone()) => {}
                _ = mode.wait_for(|m| *m == Mode::Cut) => {}
            }
        });
    }
}

/// Copies `from` to `to` until either end closes, holding bytes while the proxy is stalled.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if mode.wait_for(|m| *m == Mode::Up).await.is_err() {
            return;
        }
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Bytes read just before a stall are held until it ends.
        if mode.wait_for(|m| *m == Mode::Up).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// An echo server: what it reads, it writes back.
    async fn echo() -> anyhow::Result<SocketAddr> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = socket.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        Ok(address)
    }

    async fn round_trip(stream: &mut TcpStream, text: &[u8]) -> anyhow::Result<Vec<u8>> {
        stream.write_all(text).await?;
        let mut answer = vec![0u8; text.len()];
        stream.read_exact(&mut answer).await?;
        Ok(answer)
    }

    #[tokio::test]
    async fn a_proxy_forwards_cuts_and_stalls() -> anyhow::Result<()> {
        let proxy = Proxy::start(echo().await?.to_string()).await?;
        let mut stream = TcpStream::connect(proxy.address).await?;
        assert_eq!(round_trip(&mut stream, b"hello").await?, b"hello");

        // A stall holds the bytes until it ends; the connection survives it.
        proxy.set(Mode::Stalled);
        stream.write_all(b"held").await?;
        let mut answer = [0u8; 4];
        let early =
            tokio::time::timeout(Duration::from_millis(200), stream.read_exact(&mut answer));
        assert!(early.await.is_err(), "nothing passes while stalled");
        proxy.set(Mode::Up);
        stream.read_exact(&mut answer).await?;
        assert_eq!(&answer, b"held");

        // A cut closes the connection, and new ones, until restored.
        proxy.set(Mode::Cut);
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest));
        assert!(matches!(closed.await, Ok(Ok(0)) | Ok(Err(_))), "dropped");
        let mut refused = TcpStream::connect(proxy.address).await?;
        let closed = tokio::time::timeout(Duration::from_secs(2), refused.read_to_end(&mut rest));
        assert!(matches!(closed.await, Ok(Ok(0)) | Ok(Err(_))), "refused");
        proxy.set(Mode::Up);
        let mut again = TcpStream::connect(proxy.address).await?;
        assert_eq!(round_trip(&mut again, b"back").await?, b"back");
        Ok(())
    }
}
