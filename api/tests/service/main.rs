//! The service's integration tests: the store on SQLite (and PostgreSQL when
//! `DQC_TEST_POSTGRES_URL` is set), the collector end to end through a Kafka broker on
//! 127.0.0.1 (rdkafka's `MockCluster`), the crash test of `dqc serve`, the REST API (in-process
//! and over HTTP), notifications against local receivers, gating (the API and `dqc gate`), diffs sent to a Ballista cluster
//! (in process), and `dqc demo --exit`.

#![expect(clippy::unwrap_used, reason = "helper functions of this test binary unwrap like the tests they serve")]

mod browser;
mod collector_e2e;
mod crash;
mod demo;
mod distributed;
mod gating;
mod inventories;
mod metastore;
mod notify;
mod pages;
mod pages_gating;
mod pages_rows;
mod rest;
mod runner;
mod security;
mod storage;
mod store;
mod support;
