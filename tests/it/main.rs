//! The one integration-test binary. Every test runs the real `jit` binary against a
//! temporary configuration, state directory and command-backend fixture.

mod approvals;
mod audit_tamper;
mod aws;
mod bad_input;
mod benchmarks;
mod break_glass;
mod concurrency;
mod config_errors;
mod conformance;
mod crash;
mod exec;
mod file_backend;
mod flows;
mod fuzz_corpus;
mod generated;
mod harness;
mod http_backend;
mod http_server;
mod json_contract;
mod layers;
mod links;
mod mariadb_server;
mod moto_harness;
mod moto_server;
mod mysql;
mod notify;
mod pg_cluster;
mod postgres;
mod shipping;
mod ssh;
mod sshd;
mod store;
mod sudo;
mod team;
mod tickets;
