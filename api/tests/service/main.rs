//! The service's integration tests: the store on SQLite (and PostgreSQL when
//! `DQC_TEST_POSTGRES_URL` is set), the collector end to end through a Kafka broker on
//! 127.0.0.1 (rdkafka's `MockCluster`), and the crash test of `dqc serve`.

#![expect(clippy::unwrap_used, reason = "helper functions of this test binary unwrap like the tests they serve")]

mod collector_e2e;
mod crash;
mod runner;
mod store;
mod support;
