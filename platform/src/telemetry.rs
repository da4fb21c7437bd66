//! Structured logs through `tracing`, set up once per process.
//!
//! `WARD_LOG_FORMAT=json` selects JSON lines (production); anything else prints human-readable
//! lines. `RUST_LOG` filters as usual and defaults to `info`. Logs never carry personal data:
//! no IP address, user agent, OAuth subject or email is ever passed to a log macro.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; later calls do nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,librdkafka=warn,rdkafka=warn,sqlx=warn"));
    let json = std::env::var("WARD_LOG_FORMAT").is_ok_and(|f| f == "json");
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
