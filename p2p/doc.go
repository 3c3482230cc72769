// Package p2p is the network layer of a Jaminan node: a libp2p host whose peer ID is the
// member's key ID, gated by the member registry; gossipsub topics for blocks and for finality
// votes and witness cosignatures, with validators and peer scoring; and a request/response sync
// protocol that fetches checkpoints (with certificates) and blocks a node missed.
//
// The package applies no state. It reads what the node holds through a Source and hands what it
// received, verified, to a Sink; MemorySource is a complete in-memory implementation of both
// for tests and the devnet. Membership reaches it through Members and Node.SetMembers, finality
// rules through the MinistryFunc in Config, and producer misbehaviour leaves it as Evidence.
//
// Protocols, topics, validation rules, scoring, framing and limits are described in
// DESIGN.md beside this file.
package p2p
