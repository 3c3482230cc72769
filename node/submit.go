package node

import (
	"context"

	"github.com/jaminan/jaminan/api"
	"github.com/jaminan/jaminan/ledger"
)

// Submit acknowledges records as POST /v1/records does once it has built them, without HTTP:
// the records go to the outbox (durable on return) and from there into blocks, gossip,
// ordering and apply like any other. The records must be authored by this node (a bureau).
// It is the in-process producer entry point of `jaminan bench`.
func (n *Node) Submit(ctx context.Context, recs []ledger.Record) ([]api.SubmitResult, error) {
	return backend{n}.Submit(ctx, recs)
}
