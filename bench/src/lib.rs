//! Ward's benchmark harness (issue #8): an HTTP load generator, a reference server to
//! measure the machine's limit in the same run, and the scenarios — reads, commands and
//! visibility — each returning a report that prints as a table and serialises to JSON.
//!
//! The `ward-bench` binary is a thin command line over this library; tests call the same
//! scenarios with tiny sizes (`smoke`). Numbers are measured, never asserted.
//!
//! # Layout
//!
//! - [`load`]: closed loop ([`load::closed`]) and open loop ([`load::open`], latency from
//!   each request's scheduled start), weighted target mixes, [`load::LoadReport`].
//! - [`reference`]: a minimal axum server answering a fixed page, on its own threads.
//! - [`scenarios`]: [`scenarios::reads`] against the reference, [`scenarios::commands`]
//!   against `pgbench`, [`scenarios::visibility`] from `201` to readable, and
//!   [`scenarios::chaos`]: random faults under load, then the invariants.
//! - [`memory`]: peak and current resident memory of watched processes.
//! - `table`: the Markdown tables reports print as.

pub mod load;
pub mod memory;
pub mod reference;
pub mod scenarios;
mod table;
