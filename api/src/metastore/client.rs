//! One connection to a Hive Metastore: Thrift's binary protocol over a buffered (unframed)
//! socket, the metastore's default, with the calls dqc makes and those its tests use to set a
//! metastore up. Blocking: callers run it on a blocking thread.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use thrift::protocol::{
    TBinaryInputProtocol, TBinaryOutputProtocol, TInputProtocol, TMessageIdentifier, TMessageType, TOutputProtocol,
};
use thrift::transport::{TBufferedReadTransport, TBufferedWriteTransport};

use super::wire::{
    Database, Partition, PrimaryKeyColumn, PrimaryKeysRequest, PrimaryKeysResponse, StructWriter, Table, Thrown, Wire,
    read_struct, take,
};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The connection failed or timed out, or the answer could not be decoded.
    #[error("{0}")]
    Transport(#[from] thrift::Error),
    /// The metastore answered with one of the call's declared exceptions.
    #[error("{exception}: {message}")]
    Thrown {
        /// The exception's name, e.g. `NoSuchObjectException`.
        exception: &'static str,
        /// Its message.
        message: String,
    },
}

impl CallError {
    /// True when the metastore said the object does not exist.
    pub fn is_no_such_object(&self) -> bool {
        matches!(self, CallError::Thrown { exception: "NoSuchObjectException", .. })
    }

    /// True when the metastore does not know the call (older than the call's interface).
    pub fn is_unknown_method(&self) -> bool {
        matches!(self, CallError::Transport(thrift::Error::Application(e))
            if e.kind == thrift::ApplicationErrorKind::UnknownMethod)
    }
}

type Input = TBinaryInputProtocol<TBufferedReadTransport<TcpStream>>;
type Output = TBinaryOutputProtocol<TBufferedWriteTransport<TcpStream>>;

/// An open connection.
pub struct Connection {
    input: Input,
    output: Output,
    sequence: i32,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("sequence", &self.sequence).finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to `address` (`host:port`) within `connect_timeout`; every read and write then
    /// waits at most `io_timeout`.
    pub fn open(address: &str, connect_timeout: Duration, io_timeout: Duration) -> Result<Self, CallError> {
        let mut last = None;
        for socket in address.to_socket_addrs().map_err(thrift::Error::from)? {
            match TcpStream::connect_timeout(&socket, connect_timeout) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(io_timeout)).map_err(thrift::Error::from)?;
                    stream.set_write_timeout(Some(io_timeout)).map_err(thrift::Error::from)?;
                    stream.set_nodelay(true).map_err(thrift::Error::from)?;
                    let reader = stream.try_clone().map_err(thrift::Error::from)?;
                    return Ok(Self {
                        input: TBinaryInputProtocol::new(TBufferedReadTransport::new(reader), true),
                        output: TBinaryOutputProtocol::new(TBufferedWriteTransport::new(stream), true),
                        sequence: 0,
                    });
                }
                Err(error) => last = Some(error),
            }
        }
        let error = last.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"));
        Err(CallError::Transport(thrift::Error::from(error)))
    }

    /// Sends `method` with the arguments `args` writes, and reads its result: `Some` value for
    /// field 0, `None` for a void call, or the exception of field `n` named `exceptions[n - 1]`.
    fn call<R: Wire>(
        &mut self,
        method: &str,
        args: impl FnOnce(&mut StructWriter<'_>) -> thrift::Result<()>,
        exceptions: &[&'static str],
    ) -> Result<Option<R>, CallError> {
        self.sequence = self.sequence.wrapping_add(1);
        let output: &mut dyn TOutputProtocol = &mut self.output;
        output.write_message_begin(&TMessageIdentifier::new(method, TMessageType::Call, self.sequence))?;
        let mut writer = StructWriter::begin(output, &format!("{method}_args"))?;
        args(&mut writer)?;
        writer.end()?;
        output.write_message_end()?;
        output.flush()?;

        let input: &mut dyn TInputProtocol = &mut self.input;
        let message = input.read_message_begin()?;
        if message.message_type == TMessageType::Exception {
            let error = thrift::Error::read_application_error_from_in_protocol(input)?;
            input.read_message_end()?;
            return Err(CallError::Transport(thrift::Error::Application(error)));
        }
        if message.sequence_number != self.sequence || message.name != method {
            return Err(CallError::Transport(thrift::new_protocol_error(
                thrift::ProtocolErrorKind::InvalidData,
                format!("answer to `{}` #{} while waiting for `{method}`", message.name, message.sequence_number),
            )));
        }
        let mut success = None;
        let mut thrown = None;
        read_struct(input, |id, ty, input| {
            if id == 0 {
                let mut value = R::default();
                let taken = take(&mut value, ty, input)?;
                success = taken.then_some(value);
                return Ok(taken);
            }
            let Some(name) = usize::try_from(id).ok().and_then(|id| exceptions.get(id.wrapping_sub(1))) else {
                return Ok(false);
            };
            let mut exception = Thrown::default();
            let taken = take(&mut exception, ty, input)?;
            thrown = taken.then_some((*name, exception.message));
            Ok(taken)
        })?;
        input.read_message_end()?;
        match thrown {
            Some((exception, message)) => Err(CallError::Thrown { exception, message }),
            None => Ok(success),
        }
    }

    /// A result that the call must return.
    fn required<R>(method: &str, value: Option<R>) -> Result<R, CallError> {
        value.ok_or_else(|| {
            CallError::Transport(thrift::new_application_error(
                thrift::ApplicationErrorKind::MissingResult,
                format!("`{method}` returned no result"),
            ))
        })
    }

    /// `get_table(db, table)`.
    pub fn get_table(&mut self, db: &str, table: &str) -> Result<Table, CallError> {
        let args = |w: &mut StructWriter<'_>| {
            w.field(1, "dbname", &db.to_owned())?.field(2, "tbl_name", &table.to_owned())?;
            Ok(())
        };
        let result = self.call("get_table", args, &["MetaException", "NoSuchObjectException"])?;
        Self::required("get_table", result)
    }

    /// `get_database(name)`.
    pub fn get_database(&mut self, name: &str) -> Result<Database, CallError> {
        let args = |w: &mut StructWriter<'_>| {
            w.field(1, "name", &name.to_owned())?;
            Ok(())
        };
        let result = self.call("get_database", args, &["NoSuchObjectException", "MetaException"])?;
        Self::required("get_database", result)
    }

    /// `get_all_tables(db)`: the names of the database's tables.
    pub fn get_all_tables(&mut self, db: &str) -> Result<Vec<String>, CallError> {
        let args = |w: &mut StructWriter<'_>| {
            w.field(1, "db_name", &db.to_owned())?;
            Ok(())
        };
        let result = self.call("get_all_tables", args, &["MetaException"])?;
        Self::required("get_all_tables", result)
    }

    /// `get_partitions(db, table, -1)`: every partition.
    pub fn get_partitions(&mut self, db: &str, table: &str) -> Result<Vec<Partition>, CallError> {
        let args = |w: &mut StructWriter<'_>| {
            w.field(1, "db_name", &db.to_owned())?.field(2, "tbl_name", &table.to_owned())?.field(
                3,
                "max_parts",
                &-1i16,
            )?;
            Ok(())
        };
        let result = self.call("get_partitions", args, &["NoSuchObjectException", "MetaException"])?;
        Self::required("get_partitions", result)
    }

    /// `get_partition_by_name(db, table, "k=v/k=v")`, the name escaped as in Hive's paths.
    pub fn get_partition_by_name(&mut self, db: &str, table: &str, name: &str) -> Result<Partition, CallError> {
        let args = |w: &mut StructWriter<'_>| {
            w.field(1, "db_name", &db.to_owned())?.field(2, "tbl_name", &table.to_owned())?.field(
                3,
                "part_name",
                &name.to_owned(),
            )?;
            Ok(())
        };
        let result = self.call("get_partition_by_name", args, &["MetaException", "NoSuchObjectException"])?;
        Self::required("get_partition_by_name", result)
    }

    /// `get_primary_keys`: the table's primary-key columns, in key order; none when it declares
    /// none.
    pub fn get_primary_keys(&mut self, db: &str, table: &str) -> Result<Vec<PrimaryKeyColumn>, CallError> {
        let request = PrimaryKeysRequest { db_name: db.to_owned(), tbl_name: table.to_owned() };
        let args = |w: &mut StructWriter<'_>| {
            w.field(1, "request", &request)?;
            Ok(())
        };
        let result: Option<PrimaryKeysResponse> =
            self.call("get_primary_keys", args, &["MetaException", "NoSuchObjectException"])?;
        let mut columns = Self::required("get_primary_keys", result)?.primary_keys;
        columns.sort_by_key(|column| column.key_seq);
        Ok(columns)
    }

    /// `create_database`.
    pub fn create_database(&mut self, database: &Database) -> Result<(), CallError> {
        let args = |w: &mut StructWriter<'_>| {
            w.field(1, "database", database)?;
            Ok(())
        };
        let exceptions = ["AlreadyExistsException", "InvalidObjectException", "MetaException"];
        self.call::<bool>("create_database", args, &exceptions).map(drop)
    }

    /// `create_table_with_constraints(table, primary_key, [])`.
    pub fn create_table(&mut self, table: &Table, primary_key: &[PrimaryKeyColumn]) -> Result<(), CallError> {
        let args = |w: &mut StructWriter<'_>| {
            w.field(1, "tbl", table)?.field(2, "primaryKeys", &primary_key.to_vec())?.field(
                3,
                "foreignKeys",
                &Vec::<PrimaryKeyColumn>::new(),
            )?;
            Ok(())
        };
        let exceptions = ["AlreadyExistsException", "InvalidObjectException", "MetaException", "NoSuchObjectException"];
        self.call::<bool>("create_table_with_constraints", args, &exceptions).map(drop)
    }

    /// `add_partition`.
    pub fn add_partition(&mut self, partition: &Partition) -> Result<Partition, CallError> {
        let args = |w: &mut StructWriter<'_>| {
            w.field(1, "new_part", partition)?;
            Ok(())
        };
        let exceptions = ["InvalidObjectException", "AlreadyExistsException", "MetaException"];
        let result = self.call("add_partition", args, &exceptions)?;
        Self::required("add_partition", result)
    }
}
