//! A Ballista scheduler and executors in this process, on loopback: plans still go through
//! protobuf and gRPC, and shuffles through Arrow Flight, as on a real cluster.

use std::sync::Arc;
use std::time::Duration;

use ballista_core::extension::SessionConfigExt;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionConfig;
use verifier::{Error, Result, Stores};

use crate::codec::DqcCodec;

/// Starts a scheduler and `executors` executors of `slots` task slots each; returns the
/// scheduler's URL (`df://localhost:PORT`). They run until the process ends.
pub async fn start(executors: usize, slots: usize) -> Result<String> {
    let failed = |reason: String| Error::Cluster { url: "df://localhost (in process)".to_owned(), reason };
    let codec = Arc::new(DqcCodec::new(Stores::default()));
    let config = SessionConfig::new_with_ballista().with_ballista_physical_extension_codec(codec);
    let state = SessionStateBuilder::new().with_config(config).with_default_features().build();
    let address = ballista_scheduler::standalone::new_standalone_scheduler_from_state(&state)
        .await
        .map_err(|e| failed(format!("the scheduler did not start: {e}")))?;
    let endpoint = format!("http://localhost:{}", address.port());
    let mut attempt = 0;
    let scheduler = loop {
        match SchedulerGrpcClient::connect(endpoint.clone()).await {
            Ok(client) => break client,
            Err(e) if attempt >= 50 => return Err(failed(format!("the scheduler does not answer: {e}"))),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    for _ in 0..executors {
        ballista_executor::new_standalone_executor_from_state(scheduler.clone(), slots, &state)
            .await
            .map_err(|e| failed(format!("an executor did not start: {e}")))?;
    }
    Ok(format!("df://localhost:{}", address.port()))
}
