// Package store is a node's durable storage, on badger v4: blocks, checkpoints and their
// certificates, receipts and record locations, the ledger state, and secondary indexes over the
// accepted records (worker → records, employer → workers and months, transfer case → steps,
// region → accounts, worker → access records).
//
// # Contract
//
//   - Open checks the files before badger trusts them, finishes a checkpoint interrupted after
//     its commit point, and starts the value-log GC; Close stops it.
//   - Init stores the genesis. Apply (state machine + store) or ApplyCheckpoint (a result
//     computed elsewhere) stores one checkpoint atomically: after a crash either all of it is
//     visible or none, and when the call returns it is on disk.
//   - Reads go through a View pinned at the last applied checkpoint: a reader never sees part of
//     a checkpoint. A View is a ledger.StateReader, so the ledger's own queries run on it.
//   - ExportSnapshot / ImportSnapshot move the full state at a checkpoint between nodes in a
//     bounded, length-prefixed format; an import is checked against a digest and a position the
//     caller knows from a certified checkpoint and a signed attestation, and switches the state
//     only when every check passed.
//   - Replay and VerifyState rebuild the state from the stored history.
//
// The store knows nothing of the network. DESIGN.md beside this file gives the key layout, the
// commit protocol, the checks at Open, the snapshot format and measured numbers.
package store
