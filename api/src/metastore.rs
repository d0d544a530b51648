//! A cluster's Hive Metastore: where a table and each of its partitions really are (external
//! tables, custom partition locations, partitions added by hand), its declared columns, owner
//! and primary key.
//!
//! [`Metastore`] is one metastore (`thrift://host:9083`) with a short cache in front of it:
//! tables and partitions found are kept for [`CACHE_TTL`]; answers that something does not exist
//! are not kept, as the partition may be added a moment later. A metastore that does not answer
//! is a transient failure ([`MetastoreError::is_transient`]); a table it does not know is an
//! error naming the table and the metastore.
//!
//! [`HiveLocation`] is the CLI's `hive://HOST:PORT/DB/TABLE[/k=v[/k=v]]`.

pub mod client;
pub mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client::{CallError, Connection};
use wire::FieldSchema;

/// How long a table or partition found in a metastore is trusted.
pub const CACHE_TTL: Duration = Duration::from_secs(30);
/// How long connecting to a metastore may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one answer may take (listing the partitions of a large table is slow).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// The metastore's usual port.
pub const DEFAULT_PORT: u16 = 9083;

/// What went wrong with a metastore.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MetastoreError {
    /// It did not answer, or the answer was cut: may pass later.
    #[error("the Hive Metastore {metastore} does not answer: {reason}")]
    Unreachable {
        /// `thrift://host:port`.
        metastore: String,
        /// What the connection said.
        reason: String,
    },
    /// It does not know the table (or its database).
    #[error("the Hive Metastore {metastore} has no table `{table}`")]
    UnknownTable {
        /// `thrift://host:port`.
        metastore: String,
        /// `db.table`.
        table: String,
    },
    /// It does not know the database.
    #[error("the Hive Metastore {metastore} has no database `{db}`")]
    UnknownDatabase {
        /// `thrift://host:port`.
        metastore: String,
        /// The database.
        db: String,
    },
    /// It does not know the partition.
    #[error("the Hive Metastore {metastore} has no partition `{partition}` of table `{table}`")]
    UnknownPartition {
        /// `thrift://host:port`.
        metastore: String,
        /// `db.table`.
        table: String,
        /// `k=v/k=v`.
        partition: String,
    },
    /// It refused the call.
    #[error("the Hive Metastore {metastore} refused `{call}` for `{table}`: {reason}")]
    Refused {
        /// `thrift://host:port`.
        metastore: String,
        /// The Thrift call.
        call: &'static str,
        /// `db.table`.
        table: String,
        /// Its exception.
        reason: String,
    },
    /// A metastore address or `hive://` location that does not parse.
    #[error("`{location}` is not a Hive Metastore location: {reason}")]
    BadLocation {
        /// What was given.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl MetastoreError {
    /// True for failures that may pass on a later attempt.
    pub fn is_transient(&self) -> bool {
        matches!(self, MetastoreError::Unreachable { .. })
    }
}

/// A table as its metastore describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiveTable {
    /// `thrift://host:port`.
    pub metastore: String,
    /// Its database.
    pub db: String,
    /// Its name.
    pub name: String,
    /// Its owner (a user name).
    pub owner: String,
    /// Its location (where an unpartitioned table's files are).
    pub location: String,
    /// Its columns and their Hive types, without the partition keys.
    pub columns: Vec<FieldSchema>,
    /// Its partition keys, lowercase, in order.
    pub partition_keys: Vec<String>,
    /// Its declared primary key, in key order; empty when none is declared.
    pub primary_key: Vec<String>,
}

impl HiveTable {
    /// `db.table`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.db, self.name)
    }

    /// `hive://host:port/db/table`, for messages and the report.
    pub fn uri(&self) -> String {
        format!("hive://{}/{}/{}", self.metastore.trim_start_matches("thrift://"), self.db, self.name)
    }

    /// The schema it declares, with `columns` (a partition's own) in place of the table's
    /// columns where given: checked against the files.
    pub fn declared(&self, columns: Option<&[FieldSchema]>) -> verifier::DeclaredSchema {
        verifier::DeclaredSchema {
            source: self.uri(),
            columns: columns
                .unwrap_or(&self.columns)
                .iter()
                .map(|column| (column.name.clone(), column.type_name.clone()))
                .collect(),
            partition_keys: self.partition_keys.clone(),
        }
    }

    /// True when the table has partition keys.
    pub fn is_partitioned(&self) -> bool {
        !self.partition_keys.is_empty()
    }
}

/// A partition as its metastore describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HivePartition {
    /// Its name as Hive writes it in paths: `dt=2024-05-01/city=S%C3%A3o Paulo`, keys lowercase,
    /// values escaped.
    pub name: String,
    /// Its location (anywhere, not only under the table's).
    pub location: String,
    /// Its columns and Hive types (a partition keeps the columns it was written with).
    pub columns: Vec<FieldSchema>,
}

/// Answers and when they came.
type Cache<K, V> = Mutex<HashMap<K, (Instant, V)>>;

/// One metastore and its cache.
#[derive(Debug, Clone)]
pub struct Metastore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `thrift://host:port`.
    uri: String,
    /// `host:port`.
    address: String,
    /// By (db, table).
    tables: Cache<(String, String), Arc<HiveTable>>,
    /// By (db, table, partition name).
    partitions: Cache<(String, String, String), HivePartition>,
}

impl Metastore {
    /// A metastore at `thrift://host[:port]` (or `host[:port]`); nothing is connected yet.
    pub fn new(address: &str) -> Result<Self, MetastoreError> {
        let bad =
            |reason: &str| MetastoreError::BadLocation { location: address.to_owned(), reason: reason.to_owned() };
        let rest = address.strip_prefix("thrift://").unwrap_or(address).trim_end_matches('/');
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(bad("expected thrift://HOST[:PORT]"));
        }
        let address = match rest.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && !host.ends_with(':') => {
                port.parse::<u16>().map_err(|_| bad("the port is not a number"))?;
                rest.to_owned()
            }
            Some(_) => return Err(bad("expected thrift://HOST[:PORT]")),
            None => format!("{rest}:{DEFAULT_PORT}"),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                uri: format!("thrift://{address}"),
                address,
                tables: Mutex::default(),
                partitions: Mutex::default(),
            }),
        })
    }

    /// `thrift://host:port`.
    pub fn uri(&self) -> &str {
        &self.inner.uri
    }

    /// Runs `work` on a new connection, on a blocking thread.
    async fn with_connection<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, CallError> + Send + 'static,
    ) -> Result<Result<T, CallError>, MetastoreError> {
        let address = self.inner.address.clone();
        let unreachable = |reason: String| MetastoreError::Unreachable { metastore: self.inner.uri.clone(), reason };
        let outcome = tokio::task::spawn_blocking(move || {
            let mut connection = Connection::open(&address, CONNECT_TIMEOUT, CALL_TIMEOUT)?;
            work(&mut connection)
        })
        .await
        .map_err(|error| unreachable(error.to_string()))?;
        match outcome {
            Err(CallError::Transport(error)) if !matches!(error, thrift::Error::Application(_)) => {
                Err(unreachable(error.to_string()))
            }
            other => Ok(other),
        }
    }

    fn refused(&self, call: &'static str, table: String, error: CallError) -> MetastoreError {
        MetastoreError::Refused { metastore: self.inner.uri.clone(), call, table, reason: error.to_string() }
    }

    /// The table `db.name`, with its primary key.
    pub async fn table(&self, db: &str, name: &str) -> Result<Arc<HiveTable>, MetastoreError> {
        let key = (db.to_lowercase(), name.to_lowercase());
        if let Some((at, table)) = self.inner.tables.lock().expect("cache lock").get(&key)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(Arc::clone(table));
        }
        let (db, name) = key.clone();
        let qualified = format!("{db}.{name}");
        let answer = self
            .with_connection(move |connection| {
                let table = connection.get_table(&db, &name)?;
                let primary_key = primary_key(connection, &db, &name)?;
                Ok((table, primary_key))
            })
            .await?;
        let (table, primary_key) = match answer {
            Ok(found) => found,
            Err(error) if error.is_no_such_object() => {
                return Err(MetastoreError::UnknownTable { metastore: self.inner.uri.clone(), table: qualified });
            }
            Err(error) => return Err(self.refused("get_table", qualified, error)),
        };
        let table = Arc::new(self.hive_table(table, primary_key));
        self.inner.tables.lock().expect("cache lock").insert(key, (Instant::now(), Arc::clone(&table)));
        Ok(table)
    }

    fn hive_table(&self, table: wire::Table, primary_key: Vec<String>) -> HiveTable {
        HiveTable {
            metastore: self.inner.uri.clone(),
            db: table.db_name.to_lowercase(),
            name: table.table_name.to_lowercase(),
            owner: table.owner,
            location: normal_location(table.sd.location),
            columns: table.sd.cols,
            partition_keys: table.partition_keys.into_iter().map(|k| k.name.to_lowercase()).collect(),
            primary_key,
        }
    }

    /// The table `db.name` and its partitions in name order, over one connection: what an
    /// inventory needs of each table of a database.
    async fn table_and_partitions(
        &self,
        db: &str,
        name: &str,
    ) -> Result<(HiveTable, Vec<HivePartition>), MetastoreError> {
        let (db, name) = (db.to_lowercase(), name.to_lowercase());
        let qualified = format!("{db}.{name}");
        let answer = self
            .with_connection(move |connection| {
                let table = connection.get_table(&db, &name)?;
                let primary_key = primary_key(connection, &db, &name)?;
                let partitions = if table.partition_keys.is_empty() {
                    Ok(Vec::new())
                } else {
                    connection.get_partitions(&db, &name)
                };
                Ok((table, primary_key, partitions))
            })
            .await?;
        let (table, primary_key, partitions) = match answer {
            Ok(found) => found,
            Err(error) if error.is_no_such_object() => {
                return Err(MetastoreError::UnknownTable { metastore: self.inner.uri.clone(), table: qualified });
            }
            Err(error) => return Err(self.refused("get_table", qualified, error)),
        };
        let table = self.hive_table(table, primary_key);
        let partitions = partitions.map_err(|error| self.refused("get_partitions", qualified, error))?;
        let partitions = sorted_partitions(&table, partitions);
        Ok((table, partitions))
    }

    /// Every partition of `table`, in name order.
    pub async fn partitions(&self, table: &HiveTable) -> Result<Vec<HivePartition>, MetastoreError> {
        let (db, name) = (table.db.clone(), table.name.clone());
        let answer = self.with_connection(move |connection| connection.get_partitions(&db, &name)).await?;
        let partitions = answer.map_err(|error| self.refused("get_partitions", table.qualified_name(), error))?;
        let found = sorted_partitions(table, partitions);
        let now = Instant::now();
        let mut cache = self.inner.partitions.lock().expect("cache lock");
        for partition in &found {
            cache.insert((table.db.clone(), table.name.clone(), partition.name.clone()), (now, partition.clone()));
        }
        Ok(found)
    }

    /// The partition of `table` named `name` (`k=v/k=v`, escaped as in Hive's paths), or `None`
    /// when the metastore has no such partition.
    pub async fn partition(&self, table: &HiveTable, name: &str) -> Result<Option<HivePartition>, MetastoreError> {
        let key = (table.db.clone(), table.name.clone(), name.to_owned());
        if let Some((at, partition)) = self.inner.partitions.lock().expect("cache lock").get(&key)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(Some(partition.clone()));
        }
        let (db, table_name, part_name) = key.clone();
        let answer = self
            .with_connection(move |connection| connection.get_partition_by_name(&db, &table_name, &part_name))
            .await?;
        let partition = match answer {
            Ok(partition) => hive_partition(table, partition),
            Err(error) if error.is_no_such_object() => return Ok(None),
            // Hive 2.3 answers a partition name it cannot parse with a MetaException.
            Err(error) => return Err(self.refused("get_partition_by_name", table.qualified_name(), error)),
        };
        self.inner.partitions.lock().expect("cache lock").insert(key, (Instant::now(), partition.clone()));
        Ok(Some(partition))
    }
}

impl Metastore {
    /// The names of the tables of database `db`, lowercase, in name order.
    pub async fn table_names(&self, db: &str) -> Result<Vec<String>, MetastoreError> {
        let name = db.to_lowercase();
        let answer = self
            .with_connection(move |connection| {
                connection.get_database(&name)?;
                connection.get_all_tables(&name)
            })
            .await?;
        let mut names = match answer {
            Ok(names) => names,
            Err(error) if error.is_no_such_object() => {
                return Err(MetastoreError::UnknownDatabase { metastore: self.inner.uri.clone(), db: db.to_owned() });
            }
            Err(error) => return Err(self.refused("get_all_tables", db.to_owned(), error)),
        };
        names.iter_mut().for_each(|name| *name = name.to_lowercase());
        names.sort();
        Ok(names)
    }

    /// A warehouse for `dqc inventory`: the tables named (all of the database's when none is)
    /// that match `patterns` (`--tables`), each with its declared columns and the location of each of its partitions (an
    /// unpartitioned table: its own location, under an empty partition name). At most
    /// `concurrency` tables are asked for at once.
    pub async fn catalog(
        &self,
        db: &str,
        tables: Option<Vec<String>>,
        patterns: &[String],
        concurrency: usize,
    ) -> Result<verifier::inventory::Catalog, MetastoreError> {
        use futures::StreamExt;
        let names = match tables {
            Some(names) => names,
            None => self.table_names(db).await?,
        };
        let names = names.into_iter().filter(|name| verifier::inventory::table_kept(patterns, name));
        let found: Vec<Result<verifier::inventory::CatalogTable, MetastoreError>> = futures::stream::iter(names)
            .map(|name| async move {
                let (table, partitions) = self.table_and_partitions(db, &name).await?;
                let partitions = if table.is_partitioned() {
                    partitions.into_iter().map(|p| (p.name, p.location)).collect()
                } else {
                    vec![(String::new(), table.location.clone())]
                };
                Ok(verifier::inventory::CatalogTable {
                    name: table.name.clone(),
                    columns: table.columns.iter().map(|c| (c.name.to_lowercase(), c.type_name.clone())).collect(),
                    partitions,
                    primary_key: table.primary_key.clone(),
                })
            })
            .buffered(concurrency.max(1))
            .collect()
            .await;
        Ok(verifier::inventory::Catalog { tables: found.into_iter().collect::<Result<_, _>>()? })
    }
}

/// The primary key the metastore declares for `db.name` (lowercase; none from a metastore older
/// than 2.1, which has no constraints).
fn primary_key(connection: &mut Connection, db: &str, name: &str) -> Result<Vec<String>, CallError> {
    match connection.get_primary_keys(db, name) {
        Ok(columns) => Ok(columns.into_iter().map(|c| c.column_name.to_lowercase()).collect()),
        Err(error) if error.is_unknown_method() => Ok(Vec::new()),
        Err(error) => Err(error),
    }
}

/// `table`'s partitions as the metastore gave them, in name order.
fn sorted_partitions(table: &HiveTable, partitions: Vec<wire::Partition>) -> Vec<HivePartition> {
    let mut found: Vec<HivePartition> =
        partitions.into_iter().map(|partition| hive_partition(table, partition)).collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

fn hive_partition(table: &HiveTable, partition: wire::Partition) -> HivePartition {
    let name = table
        .partition_keys
        .iter()
        .zip(&partition.values)
        .map(|(key, value)| format!("{key}={}", collector::ident::hive_escape(value)))
        .collect::<Vec<_>>()
        .join("/");
    HivePartition { name, location: normal_location(partition.sd.location), columns: partition.sd.cols }
}

/// A location as the metastore stores it, as dqc reads locations: Hadoop writes a local path
/// `file:/data/t` (one slash), which is `file:///data/t`.
fn normal_location(location: String) -> String {
    match location.strip_prefix("file:/") {
        Some(path) if !path.starts_with('/') => format!("file:///{path}"),
        _ => location,
    }
}

/// A `hive://HOST[:PORT]/DB/TABLE[/k=v[/k=v]]` location: a table, or one partition of it,
/// resolved through the metastore at HOST:PORT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiveLocation {
    /// The metastore (`host:port`).
    pub metastore: String,
    /// The database, lowercase.
    pub db: String,
    /// The table, lowercase.
    pub table: String,
    /// The partition's name (`k=v/k=v`, keys lowercase, values as given: escaped as in Hive's
    /// paths), or `None` for every partition.
    pub partition: Option<String>,
}

impl HiveLocation {
    /// Parses a `hive://` location; `Ok(None)` for any other location.
    pub fn parse(location: &str) -> Result<Option<Self>, MetastoreError> {
        let Some(rest) = location.strip_prefix("hive://") else { return Ok(None) };
        let bad =
            |reason: &str| MetastoreError::BadLocation { location: location.to_owned(), reason: reason.to_owned() };
        let mut parts = rest.trim_end_matches('/').split('/');
        let metastore = parts.next().unwrap_or_default();
        let (Some(db), Some(table)) = (parts.next(), parts.next()) else {
            return Err(bad("expected hive://HOST[:PORT]/DB/TABLE[/k=v[/k=v]]"));
        };
        if metastore.is_empty() || db.is_empty() || table.is_empty() {
            return Err(bad("expected hive://HOST[:PORT]/DB/TABLE[/k=v[/k=v]]"));
        }
        let mut partition = Vec::new();
        for part in parts {
            match part.split_once('=') {
                Some((key, value)) if !key.is_empty() && !value.is_empty() => {
                    partition.push(format!("{}={value}", key.to_lowercase()));
                }
                _ => return Err(bad(&format!("`{part}` is not a partition `key=value`"))),
            }
        }
        let metastore = Metastore::new(metastore).map_err(|_| bad("the metastore is not HOST[:PORT]"))?;
        Ok(Some(Self {
            metastore: metastore.inner.address.clone(),
            db: db.to_lowercase(),
            table: table.to_lowercase(),
            partition: (!partition.is_empty()).then(|| partition.join("/")),
        }))
    }
}

/// A `hive://HOST[:PORT]/DB[/TABLE]` warehouse of `dqc inventory`: a metastore's database, or
/// one table of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiveWarehouse {
    /// The metastore (`host:port`).
    pub metastore: String,
    /// The database, lowercase.
    pub db: String,
    /// The table, lowercase, or `None` for all of the database's.
    pub table: Option<String>,
}

impl HiveWarehouse {
    /// Parses a `hive://` warehouse; `Ok(None)` for any other location.
    pub fn parse(location: &str) -> Result<Option<Self>, MetastoreError> {
        let Some(rest) = location.strip_prefix("hive://") else { return Ok(None) };
        let bad = || MetastoreError::BadLocation {
            location: location.to_owned(),
            reason: "expected hive://HOST[:PORT]/DB[/TABLE]".to_owned(),
        };
        let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        let (metastore, db, table) = match parts.as_slice() {
            [metastore, db] => (*metastore, *db, None),
            [metastore, db, table] => (*metastore, *db, Some(table.to_lowercase())),
            _ => return Err(bad()),
        };
        if metastore.is_empty() || db.is_empty() || table.as_deref() == Some("") {
            return Err(bad());
        }
        let metastore = Metastore::new(metastore).map_err(|_| bad())?;
        Ok(Some(Self { metastore: metastore.inner.address.clone(), db: db.to_lowercase(), table }))
    }

    /// Its tables that match `patterns` (`--tables`) and their partitions' locations, from its
    /// metastore.
    pub async fn catalog(
        &self,
        patterns: &[String],
        concurrency: usize,
    ) -> Result<verifier::inventory::Catalog, MetastoreError> {
        let metastore = Metastore::new(&self.metastore)?;
        metastore.catalog(&self.db, self.table.clone().map(|table| vec![table]), patterns, concurrency).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_warehouses_parse_as_a_database_or_a_table() {
        let db = HiveWarehouse::parse("hive://hms:9083/Sales").unwrap().unwrap();
        assert_eq!((db.metastore.as_str(), db.db.as_str(), db.table), ("hms:9083", "sales", None));
        let table = HiveWarehouse::parse("hive://hms/sales/Orders/").unwrap().unwrap();
        assert_eq!((table.metastore.as_str(), table.table.as_deref()), ("hms:9083", Some("orders")));
        assert_eq!(HiveWarehouse::parse("/data/warehouse").unwrap(), None);
        for bad in ["hive://hms:9083", "hive://hms:9083//t", "hive://hms:x/sales", "hive://hms/a/b/c"] {
            let error = HiveWarehouse::parse(bad).unwrap_err().to_string();
            assert!(error.contains("hive://HOST[:PORT]/DB[/TABLE]"), "{bad}: {error}");
        }
    }

    #[test]
    fn hive_locations_parse_with_and_without_a_partition() {
        let table = HiveLocation::parse("hive://hms.idc:9083/DW/Orders").unwrap().unwrap();
        assert_eq!(
            table,
            HiveLocation { metastore: "hms.idc:9083".into(), db: "dw".into(), table: "orders".into(), partition: None }
        );
        let partition = HiveLocation::parse("hive://hms/dw/orders/DT=2024-05-01/ts=10%3A00").unwrap().unwrap();
        assert_eq!(partition.metastore, "hms:9083");
        assert_eq!(partition.partition.as_deref(), Some("dt=2024-05-01/ts=10%3A00"));
        assert_eq!(HiveLocation::parse("s3://bucket/t").unwrap(), None);
        for bad in ["hive://hms:9083/dw", "hive://hms:9083//t", "hive://hms:x/dw/t", "hive://hms/dw/t/dt"] {
            let error = HiveLocation::parse(bad).unwrap_err().to_string();
            assert!(error.contains(bad), "{error}");
        }
    }

    #[test]
    fn hadoop_local_paths_become_file_urls() {
        assert_eq!(normal_location("file:/data/t/dt=1".into()), "file:///data/t/dt=1");
        assert_eq!(normal_location("file:///data/t".into()), "file:///data/t");
        assert_eq!(normal_location("hdfs://nn:8020/w/t".into()), "hdfs://nn:8020/w/t");
    }

    #[test]
    fn a_metastore_address_takes_the_default_port() {
        assert_eq!(Metastore::new("thrift://hms.idc").unwrap().uri(), "thrift://hms.idc:9083");
        assert_eq!(Metastore::new("hms.idc:10000").unwrap().uri(), "thrift://hms.idc:10000");
        assert!(Metastore::new("thrift://hms/x").is_err());
    }
}
