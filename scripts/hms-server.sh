#!/usr/bin/env bash
# Runs a Hive Metastore 2.3 Thrift server for the tests on 127.0.0.1:PORT (it listens on every
# interface: 2.3 ignores a bind host), with an embedded Derby database under DIR, until the
# process that started this script exits.
#
#   scripts/hms-server.sh PORT DIR
#
# The server's jars come from pyspark's source distribution on PyPI (the 37 jars the metastore
# loads, 86 MB, kept in $DQC_HMS_JARS, default ~/.cache/dqc-hms-jars); it runs on Java 17, which
# the script installs from Debian's packages where it is missing. `s3a://` and `oss://` locations
# of bucket `warehouse` map to DIR/fake-fs/warehouse (the metastore checks every location with
# Hadoop's file system).
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:?usage: scripts/hms-server.sh PORT DIR}"
dir="${2:?usage: scripts/hms-server.sh PORT DIR}"
jars="${DQC_HMS_JARS:-$HOME/.cache/dqc-hms-jars}"
if ! command -v java >/dev/null; then
  # A fresh machine: Debian's JRE (the tests need nothing else of Java).
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
  if command -v apt-get >/dev/null; then
    echo "hms-server.sh: installing Debian's openjdk-17-jre-headless" >&2
    as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >&2
  fi
  command -v java >/dev/null || { echo "hms-server.sh: java is not installed and could not be installed" >&2; exit 3; }
fi

mkdir -p "$(dirname "$jars")"
exec 9>"$jars.lock"
flock 9
if [ ! -f "$jars/.complete" ]; then
  download="$(mktemp -d)"
  trap 'rm -rf "$download"' EXIT
  python3 -m pip download --quiet --no-deps --no-binary :all: -d "$download" pyspark==4.3.0
  tar -xzf "$download"/pyspark-4.3.0.tar.gz -C "$download" --wildcards 'pyspark-4.3.0/deps/jars/*'
  mkdir -p "$jars"
  for jar in derby-10.16.1.1 derbyshared-10.16.1.1 derbytools-10.16.1.1 \
    hive-metastore-2.3.10 hive-common-2.3.10 hive-exec-2.3.10-core hive-serde-2.3.10 hive-jdbc-2.3.10 \
    hive-shims-common-2.3.10 hive-shims-0.23-2.3.10 hadoop-client-api-3.5.0 hadoop-client-runtime-3.5.0 \
    datanucleus-core-4.1.17 datanucleus-rdbms-4.1.19 datanucleus-api-jdo-4.2.4 jdo-api-3.0.1 javax.jdo-3.2.0-m3 \
    libthrift-0.16.0 libfb303-0.9.3 antlr-runtime-3.5.2 guava-33.6.0-jre commons-lang3-3.20.0 commons-cli-1.11.0 \
    commons-dbcp-1.4 commons-pool-1.5.4 log4j-api-2.25.4 log4j-core-2.25.4 log4j-1.2-api-2.25.4 \
    log4j-slf4j2-impl-2.25.4 log4j-layout-template-json-2.25.4 slf4j-api-2.0.17 jcl-over-slf4j-2.0.17 \
    jackson-core-2.21.2 jackson-databind-2.21.2 jackson-annotations-2.21 jackson-dataformat-yaml-2.21.2 \
    javax.servlet-api-4.0.1; do
    cp "$download/pyspark-4.3.0/deps/jars/$jar.jar" "$jars/"
  done
  touch "$jars/.complete"
  rm -rf "$download"
  trap - EXIT
fi
flock -u 9

mkdir -p "$dir/conf" "$dir/fake-fs/warehouse"
cat >"$dir/conf/core-site.xml" <<XML
<?xml version="1.0"?>
<configuration>
  <property><name>fs.s3a.impl</name><value>org.apache.hadoop.fs.viewfs.ViewFileSystemOverloadScheme</value></property>
  <property><name>fs.oss.impl</name><value>org.apache.hadoop.fs.viewfs.ViewFileSystemOverloadScheme</value></property>
  <property><name>fs.s3a.impl.disable.cache</name><value>true</value></property>
  <property><name>fs.viewfs.mounttable.warehouse.linkFallback</name><value>file://$dir/fake-fs/warehouse</value></property>
</configuration>
XML
parent=$PPID
java -Xmx512m -cp "$dir/conf:$jars/*" -Dhive.async.log.enabled=false -Dhive.log.dir="$dir" \
  -Dhive.metastore.warehouse.dir="$dir/warehouse" \
  -Djavax.jdo.option.ConnectionURL="jdbc:derby:;databaseName=$dir/metastore_db;create=true" \
  -Ddatanucleus.schema.autoCreateAll=true -Dhive.metastore.schema.verification=false \
  -Dderby.stream.error.file="$dir/derby.log" \
  org.apache.hadoop.hive.metastore.HiveMetaStore -p "$port" >"$dir/hms.out" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
while kill -0 "$parent" 2>/dev/null && kill -0 "$server" 2>/dev/null; do
  sleep 1
done
