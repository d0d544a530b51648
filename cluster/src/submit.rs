//! Jobs submitted to Ballista's scheduler and followed from here, so that a job this process
//! gives up on is cancelled on the cluster too: a diff cancelled (its future dropped: the
//! service's cancel, Ctrl-C), a job that stalls past the timeout, a read that fails half way.
//! Ballista's own `execute_physical_plan` keeps the job's id to itself and leaves such jobs
//! running; this is its pull mode (submit, then ask for the job's status) with the id kept.

use std::sync::Arc;
use std::time::Duration;

use ballista_core::client::BallistaClient;
use ballista_core::config::BallistaConfig;
use ballista_core::extension::SessionConfigExt;
use ballista_core::serde::protobuf::execute_query_params::Query;
use ballista_core::serde::protobuf::execute_query_result::Result as Submission;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{
    CancelJobParams, ExecuteQueryParams, GetJobStatusParams, KeyValuePair, PartitionLocation, SuccessfulJob,
    get_job_status_result::FlightProxy, job_status,
};
use ballista_core::utils::{GrpcClientConfig, create_grpc_client_endpoint};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionConfig;
use datafusion_proto::physical_plan::{AsExecutionPlan, PhysicalExtensionCodec};
use datafusion_proto::protobuf::PhysicalPlanNode;
use futures::{StreamExt, TryStreamExt};
use tonic::transport::Channel;

/// How often a running job's status is asked for.
const POLL: Duration = Duration::from_millis(100);

fn failed(what: &str, error: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("{what}: {error}"))
}

/// The ids of the jobs submitted that have not ended, shared by a cluster client's jobs.
pub(crate) type Running = Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>;

/// A job on the cluster, cancelled there when dropped before it ended.
pub(crate) struct Job {
    id: String,
    scheduler: SchedulerGrpcClient<Channel>,
    endpoint: String,
    ballista: BallistaConfig,
    running: Running,
    ended: bool,
}

impl Job {
    /// Submits `plan` to the scheduler at `endpoint` (`http://host:port`) in `session`.
    pub(crate) async fn submit(
        endpoint: &str,
        config: &SessionConfig,
        plan: Arc<dyn ExecutionPlan>,
        codec: &dyn PhysicalExtensionCodec,
        session: String,
        running: &Running,
    ) -> Result<Self> {
        let ballista = config.ballista_config();
        let mut encoded = Vec::new();
        PhysicalPlanNode::try_from_physical_plan(plan, codec)?
            .try_encode(&mut encoded)
            .map_err(|e| failed("encoding the plan", e))?;
        let settings = config
            .options()
            .entries()
            .into_iter()
            .map(|entry| KeyValuePair { key: entry.key, value: entry.value })
            .collect();
        let query = ExecuteQueryParams {
            operation_id: format!("{session}-op"),
            session_id: session,
            settings,
            query: Some(Query::PhysicalPlan(encoded)),
        };
        let mut scheduler = connect(endpoint, &ballista).await?;
        let mut request = tonic::Request::new(query);
        ballista_core::version::insert_version_header(request.metadata_mut());
        let response = scheduler.execute_query(request).await.map_err(|e| failed("submitting the job", e))?;
        match response.into_inner().result {
            Some(Submission::Success(success)) => {
                tracing::debug!(job = %success.job_id, "job submitted");
                if let Ok(mut ids) = running.lock() {
                    ids.insert(success.job_id.clone());
                }
                let (endpoint, running) = (endpoint.to_owned(), Arc::clone(running));
                Ok(Self { id: success.job_id, scheduler, endpoint, ballista, running, ended: false })
            }
            Some(Submission::Failure(failure)) => Err(failed("the scheduler refused the job", format!("{failure:?}"))),
            None => Err(failed("submitting the job", "the scheduler gave no answer")),
        }
    }

    /// The job's id on the cluster.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Waits for the job to end; its result, read from the executors, once it succeeded.
    pub(crate) async fn result(mut self, schema: arrow::datatypes::SchemaRef) -> Result<SendableRecordBatchStream> {
        loop {
            let status = self
                .scheduler
                .get_job_status(GetJobStatusParams { job_id: self.id.clone() })
                .await
                .map_err(|e| failed("asking for the job's status", e))?
                .into_inner();
            match status.status.and_then(|status| status.status) {
                Some(job_status::Status::Successful(SuccessfulJob { partition_location, .. })) => {
                    self.end();
                    return Ok(self.fetch(schema, partition_location, status.flight_proxy));
                }
                Some(job_status::Status::Failed(failure)) => {
                    self.end();
                    return Err(failed(&format!("job {}", self.id), failure.error));
                }
                _ => tokio::time::sleep(POLL).await,
            }
        }
    }

    fn end(&mut self) {
        self.ended = true;
        if let Ok(mut ids) = self.running.lock() {
            ids.remove(&self.id);
        }
    }

    /// The result's partitions, one after the other.
    fn fetch(
        &self,
        schema: arrow::datatypes::SchemaRef,
        locations: Vec<PartitionLocation>,
        proxy: Option<FlightProxy>,
    ) -> SendableRecordBatchStream {
        let (endpoint, ballista) = (self.endpoint.clone(), self.ballista.clone());
        let streams = locations.into_iter().map(move |location| {
            let (endpoint, ballista, proxy) = (endpoint.clone(), ballista.clone(), proxy.clone());
            futures::stream::once(async move { fetch_partition(location, &endpoint, &ballista, proxy).await })
                .try_flatten()
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, futures::stream::iter(streams).flatten()))
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        self.end();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (mut scheduler, job_id) = (self.scheduler.clone(), self.id.clone());
        tracing::info!(job = %job_id, "cancelling the cluster's job");
        runtime.spawn(async move {
            if let Err(error) = scheduler.cancel_job(CancelJobParams { job_id: job_id.clone() }).await {
                tracing::warn!(job = %job_id, %error, "the cluster's job could not be cancelled");
            }
        });
    }
}

/// A client of the scheduler at `endpoint`.
async fn connect(endpoint: &str, ballista: &BallistaConfig) -> Result<SchedulerGrpcClient<Channel>> {
    let grpc = GrpcClientConfig::from(ballista);
    let channel = create_grpc_client_endpoint(endpoint.to_owned(), Some(&grpc))
        .map_err(|e| failed("the scheduler's address", e))?
        .connect()
        .await
        .map_err(|e| failed("connecting to the scheduler", e))?;
    let size = ballista.grpc_client_max_message_size();
    Ok(SchedulerGrpcClient::new(channel).max_encoding_message_size(size).max_decoding_message_size(size))
}

/// Cancels the jobs in `running` on the scheduler at `endpoint`, and waits for its answers.
pub(crate) async fn cancel(endpoint: &str, ballista: &BallistaConfig, running: &Running) -> Result<()> {
    let ids: Vec<String> =
        running.lock().map(|mut ids| std::mem::take(&mut *ids).into_iter().collect()).unwrap_or_default();
    if ids.is_empty() {
        return Ok(());
    }
    let mut scheduler = connect(endpoint, ballista).await?;
    for job_id in ids {
        tracing::info!(job = %job_id, "cancelling the cluster's job");
        scheduler.cancel_job(CancelJobParams { job_id }).await.map_err(|e| failed("cancelling a job", e))?;
    }
    Ok(())
}

/// One partition of a job's result, from the executor that holds it (or the scheduler's proxy).
async fn fetch_partition(
    location: PartitionLocation,
    endpoint: &str,
    ballista: &BallistaConfig,
    proxy: Option<FlightProxy>,
) -> Result<SendableRecordBatchStream> {
    let layout = location.layout();
    let executor = location.executor_meta.ok_or_else(|| failed("a result partition", "no executor"))?;
    let partition = location.partition_id.ok_or_else(|| failed("a result partition", "no id"))?;
    let (host, port) = match proxy {
        Some(FlightProxy::External(address)) => host_port(&format!("http://{address}"))?,
        Some(FlightProxy::Local(true)) => host_port(endpoint)?,
        Some(FlightProxy::Local(false)) | None => (executor.host.clone(), executor.port as u16),
    };
    let grpc = GrpcClientConfig::from(ballista);
    let mut client = BallistaClient::try_new(
        &host,
        port,
        ballista.grpc_client_max_message_size(),
        false,
        None,
        grpc.io_retries_times,
        grpc.io_retry_wait_time_ms,
        0,
        0,
    )
    .await
    .map_err(|e| failed(&format!("connecting to the executor at {host}:{port}"), e))?;
    client
        .fetch_partition_proxied(
            &executor.id,
            &partition.into(),
            location.file_id,
            layout,
            &executor.host,
            executor.port as u16,
            true,
        )
        .await
        .map_err(|e| failed(&format!("reading a result partition from {host}:{port}"), e))
}

fn host_port(address: &str) -> Result<(String, u16)> {
    let url = url::Url::parse(address).map_err(|e| failed(&format!("the address {address}"), e))?;
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => Ok((host.to_owned(), port)),
        _ => Err(failed(&format!("the address {address}"), "no host and port")),
    }
}
