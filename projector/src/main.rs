//! `ward-projector`: the projectors as their own process.

/// mimalloc instead of glibc's malloc, whose arena locks were a tenth of the query API's
/// time under load (`bench/README.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use ward_platform::{config, shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let config = config::WardConfig::load()?;
    let listener = tokio::net::TcpListener::bind(&config.projector.listen).await?;
    ward_projector::run(&config, listener, shutdown::on_signal()).await
}
