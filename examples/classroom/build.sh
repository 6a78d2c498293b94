#!/bin/sh
# The demo's build, pier.toml's `[build] command`: builds `classroom` in release mode and copies
# it to bin/classroom, the binary the processes run. In a deploy, that is the release's own
# folder (.pier/releases/vN/src), so every release keeps its own binary and a rollback runs the
# old code.
#
# Cargo's files go, in a deploy, to $PIER_CACHE_DIR/target, kept across deploys: a deploy
# compiles the demo's crate, not every dependency again. Only snapshots use that cache (their
# files' times are their extraction's, so cargo never mistakes one commit's sources for
# another's). `pier up` of this folder builds where `cargo build` would ($CARGO_TARGET_DIR, else
# the workspace's target/).
set -eu
if [ -n "${PIER_CACHE_DIR:-}" ]; then
  target=$PIER_CACHE_DIR/target
else
  target=${CARGO_TARGET_DIR:-../../target}
fi
cargo build --release -p classroom --target-dir "$target"
mkdir -p bin
# Through a new file: a running bin/classroom (the folder's previous build) cannot be overwritten.
cp "$target/release/classroom" bin/classroom.new
mv -f bin/classroom.new bin/classroom
