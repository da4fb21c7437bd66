//! Members as the write side knows them.

mod id;

pub use id::MemberId;
