//! The Hive Metastore's Thrift structures that dqc reads and writes, after `hive_metastore.thrift`
//! of Hive 2.3 (the interface later metastores still answer): field ids and types as there.
//!
//! Only the fields dqc uses are kept; every other field is skipped on read (by its wire type, so
//! a newer metastore's additions are harmless) and written with the IDL's defaults. A field
//! whose wire type is not the one expected is skipped too, never misread.

use std::collections::BTreeMap;

use thrift::protocol::{
    TFieldIdentifier, TInputProtocol, TListIdentifier, TMapIdentifier, TOutputProtocol, TStructIdentifier, TType,
};

/// A value with a Thrift wire form.
pub trait Wire: Sized + Default {
    /// Its wire type.
    const TYPE: TType;
    /// Reads one value.
    fn read(input: &mut dyn TInputProtocol) -> thrift::Result<Self>;
    /// Writes it.
    fn write(&self, output: &mut dyn TOutputProtocol) -> thrift::Result<()>;
}

impl Wire for String {
    const TYPE: TType = TType::String;
    fn read(input: &mut dyn TInputProtocol) -> thrift::Result<Self> {
        input.read_string()
    }
    fn write(&self, output: &mut dyn TOutputProtocol) -> thrift::Result<()> {
        output.write_string(self)
    }
}

/// [`Wire`] for a number or a boolean: its wire type and the protocol's calls.
macro_rules! wire_scalar {
    ($($type:ty: $ttype:ident, $read:ident, $write:ident;)*) => {$(
        impl Wire for $type {
            const TYPE: TType = TType::$ttype;
            fn read(input: &mut dyn TInputProtocol) -> thrift::Result<Self> {
                input.$read()
            }
            fn write(&self, output: &mut dyn TOutputProtocol) -> thrift::Result<()> {
                output.$write(*self)
            }
        }
    )*};
}

wire_scalar! {
    i32: I32, read_i32, write_i32;
    i16: I16, read_i16, write_i16;
    bool: Bool, read_bool, write_bool;
}

impl<T: Wire> Wire for Vec<T> {
    const TYPE: TType = TType::List;
    fn read(input: &mut dyn TInputProtocol) -> thrift::Result<Self> {
        let list = input.read_list_begin()?;
        let mut items = Vec::with_capacity(usize::try_from(list.size).unwrap_or(0).min(1 << 16));
        for _ in 0..list.size {
            if list.element_type == T::TYPE {
                items.push(T::read(input)?);
            } else {
                input.skip(list.element_type)?;
            }
        }
        input.read_list_end()?;
        Ok(items)
    }
    fn write(&self, output: &mut dyn TOutputProtocol) -> thrift::Result<()> {
        output.write_list_begin(&TListIdentifier::new(T::TYPE, length(self.len())?))?;
        for item in self {
            item.write(output)?;
        }
        output.write_list_end()
    }
}

impl Wire for BTreeMap<String, String> {
    const TYPE: TType = TType::Map;
    fn read(input: &mut dyn TInputProtocol) -> thrift::Result<Self> {
        let map = input.read_map_begin()?;
        let typed = map.key_type == Some(TType::String) && map.value_type == Some(TType::String);
        let mut entries = BTreeMap::new();
        for _ in 0..map.size {
            if typed {
                let key = input.read_string()?;
                entries.insert(key, input.read_string()?);
            } else {
                for ty in [map.key_type, map.value_type].into_iter().flatten() {
                    input.skip(ty)?;
                }
            }
        }
        input.read_map_end()?;
        Ok(entries)
    }
    fn write(&self, output: &mut dyn TOutputProtocol) -> thrift::Result<()> {
        output.write_map_begin(&TMapIdentifier::new(TType::String, TType::String, length(self.len())?))?;
        for (key, value) in self {
            output.write_string(key)?;
            output.write_string(value)?;
        }
        output.write_map_end()
    }
}

fn length(len: usize) -> thrift::Result<i32> {
    i32::try_from(len).map_err(|_| thrift::new_protocol_error(thrift::ProtocolErrorKind::SizeLimit, "too many items"))
}

/// Reads a struct, handing each field to `field` (id, wire type); fields it does not take are
/// skipped.
pub(crate) fn read_struct(
    input: &mut dyn TInputProtocol,
    mut field: impl FnMut(i16, TType, &mut dyn TInputProtocol) -> thrift::Result<bool>,
) -> thrift::Result<()> {
    input.read_struct_begin()?;
    loop {
        let header = input.read_field_begin()?;
        if header.field_type == TType::Stop {
            break;
        }
        if !field(header.id.unwrap_or(0), header.field_type, input)? {
            input.skip(header.field_type)?;
        }
        input.read_field_end()?;
    }
    input.read_struct_end()
}

/// Reads a field into `slot` when its wire type is `T`'s; false (to skip it) otherwise.
pub(crate) fn take<T: Wire>(slot: &mut T, ty: TType, input: &mut dyn TInputProtocol) -> thrift::Result<bool> {
    if ty != T::TYPE {
        return Ok(false);
    }
    *slot = T::read(input)?;
    Ok(true)
}

/// Writes a struct of `fields`: (id, name, value) triples.
pub(crate) struct StructWriter<'a> {
    output: &'a mut dyn TOutputProtocol,
}

impl<'a> StructWriter<'a> {
    pub(crate) fn begin(output: &'a mut dyn TOutputProtocol, name: &str) -> thrift::Result<Self> {
        output.write_struct_begin(&TStructIdentifier::new(name))?;
        Ok(Self { output })
    }

    pub(crate) fn field<T: Wire>(&mut self, id: i16, name: &str, value: &T) -> thrift::Result<&mut Self> {
        self.output.write_field_begin(&TFieldIdentifier::new(name, T::TYPE, id))?;
        value.write(self.output)?;
        self.output.write_field_end()?;
        Ok(self)
    }

    pub(crate) fn end(&mut self) -> thrift::Result<()> {
        self.output.write_field_stop()?;
        self.output.write_struct_end()
    }
}

/// Implements [`Wire`] for a struct from its field table: `id => field: "name"`.
macro_rules! wire_struct {
    ($type:ident, $name:literal { $($id:literal => $field:ident: $wire:literal),* $(,)? } $(defaults { $($did:literal => $dname:literal: $dvalue:expr),* $(,)? })?) => {
        impl Wire for $type {
            const TYPE: TType = TType::Struct;
            fn read(input: &mut dyn TInputProtocol) -> thrift::Result<Self> {
                let mut value = Self::default();
                read_struct(input, |id, ty, input| match id {
                    $($id => take(&mut value.$field, ty, input),)*
                    _ => Ok(false),
                })?;
                Ok(value)
            }
            fn write(&self, output: &mut dyn TOutputProtocol) -> thrift::Result<()> {
                let mut writer = StructWriter::begin(output, $name)?;
                $(writer.field($id, $wire, &self.$field)?;)*
                $($(writer.field($did, $dname, &$dvalue)?;)*)?
                writer.end()
            }
        }
    };
}

/// A column: `FieldSchema`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSchema {
    /// Its name (Hive lowercases it).
    pub name: String,
    /// Its Hive type, e.g. `decimal(10,2)` or `map<string,int>`.
    pub type_name: String,
    /// Its comment.
    pub comment: String,
}
wire_struct!(FieldSchema, "FieldSchema" { 1 => name: "name", 2 => type_name: "type", 3 => comment: "comment" });

/// How rows are (de)serialised: `SerDeInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SerDeInfo {
    /// Its name.
    pub name: String,
    /// The SerDe's class, e.g. `org.apache.hadoop.hive.ql.io.orc.OrcSerde`.
    pub serialization_lib: String,
    /// Its parameters.
    pub parameters: BTreeMap<String, String>,
}
wire_struct!(SerDeInfo, "SerDeInfo" {
    1 => name: "name", 2 => serialization_lib: "serializationLib", 3 => parameters: "parameters",
});

/// Where and how a table's or partition's data is stored: `StorageDescriptor`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageDescriptor {
    /// The columns (without the partition keys).
    pub cols: Vec<FieldSchema>,
    /// The directory holding the data.
    pub location: String,
    /// The input format's class.
    pub input_format: String,
    /// The output format's class.
    pub output_format: String,
    /// The SerDe.
    pub serde_info: SerDeInfo,
    /// Its parameters.
    pub parameters: BTreeMap<String, String>,
}
wire_struct!(StorageDescriptor, "StorageDescriptor" {
    1 => cols: "cols", 2 => location: "location", 3 => input_format: "inputFormat",
    4 => output_format: "outputFormat", 7 => serde_info: "serdeInfo", 10 => parameters: "parameters",
} defaults {
    5 => "compressed": false, 6 => "numBuckets": -1i32, 8 => "bucketCols": Vec::<String>::new(),
    9 => "sortCols": Vec::<FieldSchema>::new(),
});

/// A table: `Table`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Its name, without the database.
    pub table_name: String,
    /// Its database.
    pub db_name: String,
    /// Its owner (a user name).
    pub owner: String,
    /// Its storage.
    pub sd: StorageDescriptor,
    /// Its partition columns, in order.
    pub partition_keys: Vec<FieldSchema>,
    /// Its parameters.
    pub parameters: BTreeMap<String, String>,
    /// `MANAGED_TABLE`, `EXTERNAL_TABLE`, `VIRTUAL_VIEW`, ...
    pub table_type: String,
}
wire_struct!(Table, "Table" {
    1 => table_name: "tableName", 2 => db_name: "dbName", 3 => owner: "owner", 7 => sd: "sd",
    8 => partition_keys: "partitionKeys", 9 => parameters: "parameters", 12 => table_type: "tableType",
});

/// A partition: `Partition`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Partition {
    /// Its values, in the order of the table's partition keys.
    pub values: Vec<String>,
    /// Its table's database.
    pub db_name: String,
    /// Its table.
    pub table_name: String,
    /// Its storage (its location may be anywhere, not only under the table's).
    pub sd: StorageDescriptor,
    /// Its parameters.
    pub parameters: BTreeMap<String, String>,
}
wire_struct!(Partition, "Partition" {
    1 => values: "values", 2 => db_name: "dbName", 3 => table_name: "tableName", 6 => sd: "sd",
    7 => parameters: "parameters",
});

/// A database: `Database`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Database {
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its default location for managed tables.
    pub location_uri: String,
    /// Its parameters.
    pub parameters: BTreeMap<String, String>,
}
wire_struct!(Database, "Database" {
    1 => name: "name", 2 => description: "description", 3 => location_uri: "locationUri", 4 => parameters: "parameters",
});

/// One column of a primary-key constraint: `SQLPrimaryKey`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrimaryKeyColumn {
    /// The table's database.
    pub table_db: String,
    /// The table.
    pub table_name: String,
    /// The column.
    pub column_name: String,
    /// Its position in the key, from 1.
    pub key_seq: i32,
    /// The constraint's name.
    pub pk_name: String,
    /// ENABLE.
    pub enable: bool,
    /// VALIDATE.
    pub validate: bool,
    /// RELY.
    pub rely: bool,
}
wire_struct!(PrimaryKeyColumn, "SQLPrimaryKey" {
    1 => table_db: "table_db", 2 => table_name: "table_name", 3 => column_name: "column_name",
    4 => key_seq: "key_seq", 5 => pk_name: "pk_name", 6 => enable: "enable_cstr",
    7 => validate: "validate_cstr", 8 => rely: "rely_cstr",
});

/// `PrimaryKeysRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PrimaryKeysRequest {
    pub(crate) db_name: String,
    pub(crate) tbl_name: String,
}
wire_struct!(PrimaryKeysRequest, "PrimaryKeysRequest" { 1 => db_name: "db_name", 2 => tbl_name: "tbl_name" });

/// `PrimaryKeysResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PrimaryKeysResponse {
    pub(crate) primary_keys: Vec<PrimaryKeyColumn>,
}
wire_struct!(PrimaryKeysResponse, "PrimaryKeysResponse" { 1 => primary_keys: "primaryKeys" });

/// Every metastore exception: `{1: string message}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Thrown {
    pub(crate) message: String,
}
wire_struct!(Thrown, "Exception" { 1 => message: "message" });

#[cfg(test)]
mod tests {
    use super::*;
    use thrift::protocol::{TBinaryInputProtocol, TBinaryOutputProtocol};

    fn read_back<T: Wire>(bytes: &[u8]) -> T {
        T::read(&mut TBinaryInputProtocol::new(bytes, true)).unwrap()
    }

    #[test]
    fn a_partition_survives_the_wire_with_its_nested_structures() {
        let partition = Partition {
            values: vec!["2024-05-01".into(), "S\u{e3}o Paulo".into()],
            db_name: "dw".into(),
            table_name: "orders".into(),
            sd: StorageDescriptor {
                cols: vec![FieldSchema { name: "id".into(), type_name: "bigint".into(), comment: String::new() }],
                location: "s3a://warehouse/custom/p1".into(),
                serde_info: SerDeInfo {
                    serialization_lib: "org.apache.hadoop.hive.ql.io.orc.OrcSerde".into(),
                    ..SerDeInfo::default()
                },
                ..StorageDescriptor::default()
            },
            parameters: BTreeMap::from([("numRows".into(), "3".into())]),
        };
        let mut bytes = Vec::new();
        partition.write(&mut TBinaryOutputProtocol::new(&mut bytes, true)).unwrap();
        assert_eq!(read_back::<Partition>(&bytes), partition);
    }

    #[test]
    fn a_field_of_another_wire_type_is_skipped_not_misread() {
        // A `Table` whose field 3 (owner, a string) arrives as an i32, as a different IDL might,
        // and with a field this IDL does not have.
        let mut bytes = Vec::new();
        {
            let mut output = TBinaryOutputProtocol::new(&mut bytes, true);
            let mut writer = StructWriter::begin(&mut output, "Table").unwrap();
            writer.field(1, "tableName", &"t".to_owned()).unwrap().field(3, "owner", &7i32).unwrap();
            writer.field(99, "future", &vec!["x".to_owned()]).unwrap().end().unwrap();
        }
        let table: Table = read_back(&bytes);
        assert_eq!((table.table_name.as_str(), table.owner.as_str()), ("t", ""));
    }
}
