// Package node wires one Jaminan node — a regional bureau or a ministry ordering node — from its
// Config: the key, genesis and pepper; the badger store (state, blocks, checkpoints, indexes) and
// the producer's outbox; the libp2p network (gossip and sync) over store-backed Source and Sink
// adapters; consensus (ministry: Raft orderer, executor and finality; bureau: a witness that
// applies certified checkpoints and cosigns); the producer, which acknowledges a record only once
// it is durable and cuts signed blocks by size and time; and the HTTP API of package api over
// read views at the last final checkpoint, with Prometheus metrics, /healthz and /readyz.
//
// The package holds no domain logic: the ledger decides, the store keeps, p2p and consensus carry
// and order. What lives here is the order of start-up and shutdown (Node.Close documents it),
// the adapters between the parts' interfaces (chain.go, backend.go), the producer (producer.go)
// and the bureau's clerk for transfer steps (transfers.go).
//
// Configuration is a JSON file, then JAMINAN_* environment variables, then flags
// (docs/OPERATING.md lists the fields).
package node
