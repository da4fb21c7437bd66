//! The reference server: the least an HTTP server can do on this machine, measured in the
//! same run as Ward so that ratios do not depend on how busy the machine was.
//!
//! It is axum (what Ward's APIs are built on) answering `GET /` with a fixed `text/html`
//! body, on a runtime of its own with two worker threads — as a separate server process would
//! have — so that it does not share the load generator's threads.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use anyhow::Context;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running reference server; dropping it stops it too.
pub struct Reference {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl Reference {
    /// Its one page, `http://{addr}/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stops it and waits for its thread.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .context("waiting for the reference server")?
            .map_err(|_| anyhow::anyhow!("the reference server panicked"))
    }
}

/// A body of exactly `len` bytes that looks like a page.
pub fn body(len: usize) -> Vec<u8> {
    let mut body = b"<!doctype html><title>reference</title><p>".to_vec();
    body.resize(len.max(body.len()), b'x');
    body.truncate(len);
    body
}

/// Starts the reference server on `127.0.0.1:0` answering `GET /` with `body_len` bytes.
pub async fn start(body_len: usize) -> anyhow::Result<Reference> {
    let page = Bytes::from(body(body_len));
    let app = Router::new().route(
        "/",
        get(move || async move { ([(CONTENT_TYPE, "text/html")], page) }),
    );
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("binding the reference server")?;
    let addr = listener
        .local_addr()
        .context("the reference server's address")?;
    listener
        .set_nonblocking(true)
        .context("making the reference server's socket non-blocking")?;
    let (ready, started) = oneshot::channel::<anyhow::Result<()>>();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("reference-server".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready.send(Err(e).context("starting the reference server's runtime"));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(e) => {
                        let _ = ready.send(Err(e).context("listening for the reference server"));
                        return;
                    }
                };
                let _ = ready.send(Ok(()));
                let stop = async move {
                    let _ = stopped.await;
                };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await;
            });
        })
        .context("starting the reference server's thread")?;
    started
        .await
        .context("the reference server's thread ended early")??;
    Ok(Reference {
        addr,
        shutdown,
        thread,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_exactly_the_asked_length() {
        assert_eq!(body(0).len(), 0);
        assert_eq!(body(10).len(), 10);
        assert_eq!(body(20_000).len(), 20_000);
        assert!(body(20_000).starts_with(b"<!doctype html>"));
    }

    #[tokio::test]
    async fn it_serves_the_body_until_stopped() -> anyhow::Result<()> {
        let server = start(1234).await?;
        let response = reqwest::get(server.url()).await?;
        assert_eq!(response.headers()[CONTENT_TYPE], "text/html");
        assert_eq!(response.bytes().await?.len(), 1234);
        server.stop().await?;
        Ok(())
    }
}
