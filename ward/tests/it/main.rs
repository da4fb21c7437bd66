//! Ward's integration tests, as one binary (zero2prod's layout): a module per area, and
//! `support`, the harness they share. One binary links the whole stack once, not once per
//! area; nextest still runs every test in a process of its own.

mod support;

mod adversary;
mod adversary_badges;
mod adversary_labels;
mod adversary_reader;
mod adversary_rules;
mod api_fuzz;
mod authorization;
mod bench_smoke;
mod board_read;
mod chaos_smoke;
mod claim_queue;
mod commands;
mod degraded;
mod dev_idp;
mod follow;
mod hospital_read;
mod hospitals;
mod kafka_security;
mod member_read;
mod members;
mod moderation;
mod no_pii;
mod openapi;
mod pipeline;
mod posts;
mod rebuild;
mod replay;
mod replay_equals_live;
mod republish;
mod sign_in;
mod threads;
mod web_e2e;
mod web_pages;
mod withdrawal;
mod work_email;
