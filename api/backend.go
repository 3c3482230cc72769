package api

import (
	"context"
	"errors"
	"time"

	"github.com/jaminan/jaminan/ledger"
)

// ErrNotFound is returned (wrapped) by a Backend or a View when what was asked for does not
// exist, or is not final yet. Handlers answer it with 404.
var ErrNotFound = errors.New("not found")

// ErrUnavailable is returned (wrapped) by a Backend that cannot serve now: not started, shutting
// down, its store failing, its submission queue full. Handlers answer it with 503.
var ErrUnavailable = errors.New("unavailable")

// ErrNoSpace is returned (wrapped) by a Backend whose disk is too full to store what was asked:
// nothing was stored, and the client retries later (507).
var ErrNoSpace = errors.New("insufficient storage")

// ErrBeforeHistory is returned (wrapped) by a View when what was asked for lies before the
// history this node holds: it joined from a state snapshot, and the checkpoints, blocks and
// record locations before it are not here (a node with the full history has them). Handlers
// answer it with 404 and the code before_history.
var ErrBeforeHistory = errors.New("before this node's history")

// Backend is what the HTTP handlers need from a node. The node implements it over its store,
// producer and p2p host; MemBackend implements it in memory for tests and the in-memory devnet.
// Every method is safe for concurrent use.
type Backend interface {
	// Status describes the node: identity, network, the last final checkpoint, peers and lag.
	Status(ctx context.Context) (Status, error)

	// Genesis returns the network's founding document. It never changes and must not be
	// modified.
	Genesis() *ledger.Genesis

	// Pepper returns the network pepper, with which the handlers pseudonymise the resident ID
	// numbers that the operator sends. It must not be modified.
	Pepper() []byte

	// Signer returns the node's own key. Records the handlers build (from the operator's
	// submissions, transfer applications, consents, access records) are authored by it, so the
	// node's producer carries them without further signatures.
	Signer() *ledger.Signer

	// Now returns the node's clock: it stamps records and checks signature times and consents.
	Now() time.Time

	// Member returns the registry entry of a member key as of the last final checkpoint
	// (the genesis registry updated by gov.member and gov.revoke records), active or not.
	Member(id ledger.KeyID) (ledger.Member, bool, error)

	// Submit hands records to the node's producer and returns once each is durable (it will be
	// carried in a block until it is final or rejected with a receipt) or refused. The results
	// are in the order of recs. An error means nothing can be said about any record (for
	// example ErrUnavailable, or ErrNoSpace when the disk is full); the caller answers 503 or
	// 507 and the client retries (records are deduplicated by ID).
	Submit(ctx context.Context, recs []ledger.Record) ([]SubmitResult, error)

	// Pending reports whether record id was acknowledged by Submit and is not yet in a final
	// checkpoint.
	Pending(id ledger.Hash) bool

	// View opens a read view at the last final checkpoint. The caller must Release it, and
	// must not hold it across a call to Submit.
	View(ctx context.Context) (View, error)

	// WaitFinal blocks until a checkpoint after seq is final and returns the last final
	// sequence number, or ctx's error.
	WaitFinal(ctx context.Context, after uint64) (uint64, error)

	// Evidence returns the misbehaviour this node has proof of: a ministry key that signed two
	// results at one sequence or a root the majority did not certify, a producer that signed
	// two blocks at one height. Each item is self-contained: anyone can check it offline.
	Evidence() []Evidence

	// Admin carries out an operator's membership or leadership command on a ministry node:
	// "add-voter" and "remove-voter" (peer the member's key ID; adding needs the gov.member
	// record already applied), "transfer-leadership" (peer "" for the most up-to-date
	// follower). It returns ErrNotMinistry on other nodes and ErrNotLeader (with the leader's
	// ID in the message, when known) on a follower.
	Admin(ctx context.Context, action string, peer ledger.KeyID) error

	// Network describes the network as this node sees it, for the web page and monitoring:
	// the member registry, the members it is connected to and the last checkpoint each was
	// heard voting or cosigning, recent final checkpoints with their local finality times,
	// consensus health, and the transfer cases it knows to be open (see NetworkInfo).
	Network(ctx context.Context) (NetworkInfo, error)
}

// Errors of Admin.
var (
	ErrNotMinistry = errors.New("not a ministry node")
	ErrNotLeader   = errors.New("not the raft leader")
)

// Evidence is one proof of a member's misbehaviour (consensus.Evidence, encoded).
type Evidence struct {
	ID       ledger.Hash
	Kind     string
	Offender ledger.KeyID
	Encoded  []byte // consensus.Evidence.Encode: version byte and canonical CBOR
}

// View reads the ledger at one final checkpoint: the state through ledger.StateReader (so that
// ledger.WorkerAccounts, ledger.GetTransfer, ledger.ConsentActive, ledger.BenefitPlace and
// ledger.RecordStatus run on it), the stored blocks and checkpoints, and the secondary indexes of
// the store. Paged methods return at most limit entries after the given position; limit ≤ 0
// means the backend's default page. The node implements it over store.View.
type View interface {
	ledger.StateReader

	// Checkpoint returns the stored checkpoint seq and its finality certificate.
	Checkpoint(seq uint64) (*ledger.CheckpointBody, *ledger.Certificate, error)

	// Block returns a stored block and where it was ordered.
	Block(h ledger.Hash) (*ledger.Block, BlockPlace, error)

	// Record returns the bytes of a record applied in a final checkpoint and its receipt.
	Record(id ledger.Hash) ([]byte, Location, error)

	// RecordProof builds the offline-verifiable proof of an applied record.
	RecordProof(id ledger.Hash) (*ledger.RecordProof, error)

	// WorkerOfKey returns the worker a personal key is registered to (worker.key records).
	WorkerOfKey(k ledger.KeyID) (ledger.WorkerID, bool, error)

	// WorkerRecords returns the accepted records that concern worker w, in ledger order.
	WorkerRecords(w ledger.WorkerID, after Pos, limit int) ([]RecordRef, error)

	// MinistryChanges returns the accepted governance records that changed the ministry set
	// (ledger.MinistryWatch), in ledger order: statements carry their proofs.
	MinistryChanges(after Pos, limit int) ([]RecordRef, error)

	// WorkerAccess returns the accepted access records of worker w, in ledger order.
	WorkerAccess(w ledger.WorkerID, after Pos, limit int) ([]AccessRef, error)

	// EmployerEmployments returns the employer's latest declared employment per worker, by
	// worker, after worker after (exclusive; the zero worker: from the start).
	EmployerEmployments(employer string, after ledger.WorkerID, limit int) ([]Employment, error)

	// EmployerMonths returns the contributions in force that the employer paid, by worker then
	// period, after (Worker, Period) of after (the zero value: from the start).
	EmployerMonths(employer string, after EmployerMonth, limit int) ([]EmployerMonth, error)

	// Release gives the view back; it is not used afterwards.
	Release()
}

// Status is what GET /v1/status reports.
type Status struct {
	NodeID    ledger.KeyID `json:"node_id"`
	Role      string       `json:"role"`
	Region    string       `json:"region"`
	Network   string       `json:"network"`
	Finalized Finalized    `json:"finalized"`
	Peers     int          `json:"peers"`
	Lag       uint64       `json:"lag"`   // final checkpoints known to exist but not yet applied
	Ready     bool         `json:"ready"` // serving reads of current data (GET /readyz)
	// HistoryStart is the checkpoint the node's stored history starts after: absent (0) for a
	// node with the whole history, the snapshot's sequence for one that joined from a snapshot.
	HistoryStart uint64 `json:"history_start,omitempty"`
}

// Finalized is the last final checkpoint a node applied.
type Finalized struct {
	Seq       uint64      `json:"seq"`
	Hash      ledger.Hash `json:"hash"`
	StateRoot ledger.Hash `json:"state_root"`
	Time      uint64      `json:"time"` // checkpoint time, unix ms
}

// SubmitResult is the outcome of one submitted record: accepted (durable, Code empty) or refused
// before it reached a block, with a code and a message.
type SubmitResult struct {
	ID      ledger.Hash
	Code    string
	Message string
}

// Pos is a record's position in the ledger's order: its checkpoint, then its ordinal among the
// checkpoint's records.
type Pos struct {
	Seq uint64
	Ord uint32
}

// RecordRef is an index entry naming an accepted record.
type RecordRef struct {
	Pos
	ID   ledger.Hash
	Type ledger.RecordType
}

// AccessRef is an accepted access record: who read what of a worker's data.
type AccessRef struct {
	RecordRef
	Reader string
	What   string
}

// Location is where a record was applied and with what receipt.
type Location struct {
	Seq        uint64      // checkpoint
	Block      ledger.Hash // the block that carried it
	BlockIndex uint32      // the block's position in the checkpoint
	Index      uint32      // the record's position in the block
	Code       string      // receipt code
	Message    string      // receipt message, when the backend keeps it
}

// BlockPlace is where a block was ordered: its checkpoint and position in it.
type BlockPlace struct {
	Seq   uint64
	Index uint32
}

// Employment is a worker's latest accepted employment record with an employer.
type Employment struct {
	Worker ledger.WorkerID
	Start  uint32 // YYYYMMDD
	End    uint32 // YYYYMMDD; 0 while employed
	Record ledger.Hash
}

// EmployerMonth is a contribution in force that an employer paid for a worker, from Period to
// Through (YYYYMM; equal for one month).
type EmployerMonth struct {
	Worker  ledger.WorkerID
	Period  uint32
	Through uint32
	Record  ledger.Hash
}
