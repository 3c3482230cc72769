// Package raftlog is the Raft log and stable store of a ministry node: a
// raft.LogStore and raft.StableStore (hashicorp/raft v1.8.0) on a dedicated
// badger v4 database, so that the node runs one storage engine.
//
// Contract, from raft's source:
//   - FirstIndex and LastIndex return 0 for an empty log.
//   - GetLog returns raft.ErrLogNotFound, unwrapped, for a missing entry, and
//     an error wrapping ErrCorrupt for a value that does not decode.
//   - StoreLogs is durable when it returns (badger SyncWrites) and uses one
//     transaction unless the batch exceeds badger's transaction size.
//   - DeleteRange(min, max) is inclusive.
//   - Get and GetUint64 of a missing key return ErrKeyNotFound, whose text
//     is exactly "not found" as raft compares it by text.
//
// Keys are one prefix byte followed by the big-endian index (log entries) or
// the raw key (stable entries). Values use the compact binary format
// described in codec.go, with a CRC-32C.
//
// Wrap the store with NewCached (raft.NewLogCache) before handing it to
// raft.NewRaft.
package raftlog
