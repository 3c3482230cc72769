// Package consensus is the ministry's ordering and finality: a hashicorp/raft group of ministry
// nodes over libp2p streams fixes one order of block references and cuts checkpoints from it
// (FSM, Orderer); an Executor applies each checkpoint to the ledger state once its blocks are
// available and signs (checkpoint hash, state root); Finality assembles majority certificates,
// compares every vote with the local result, raises alarms and keeps evidence; a Witness (a
// bureau, no Raft) applies certified checkpoints, checks the root before committing and cosigns.
//
// Ordering is separate from execution: the FSM decides checkpoint bodies from the log alone
// (no clock, no randomness, no map order); the executor does the domain work through
// ledger.Machine. DESIGN.md beside this file describes the command envelope, the cut rule,
// snapshots, membership, evidence and the alarm behaviour.
package consensus
