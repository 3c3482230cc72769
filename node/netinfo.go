package node

import (
	"context"
	"slices"
	"sync"

	"github.com/jaminan/jaminan/api"
	"github.com/jaminan/jaminan/consensus"
	"github.com/jaminan/jaminan/ledger"
)

// Bounds of what netInfo keeps.
const (
	maxSamples   = 600     // recent final checkpoints
	maxPending   = 10_000  // applied, not yet final (a ministry node between apply and certificate)
	maxOpenCases = 100_000 // transfer cases applied since start and not known to be closed
)

// netInfo collects, for GET /v1/network, what a node observes of the network that no store
// holds: when each checkpoint became final here, the last checkpoint each member was heard
// voting or cosigning on, and the transfer cases applied since start.
type netInfo struct {
	mu      sync.Mutex
	heard   map[ledger.KeyID]uint64
	pending map[uint64]api.FinalSample
	recent  []api.FinalSample
	final   uint64
	open    map[ledger.Hash]struct{}
}

func newNetInfo() *netInfo {
	return &netInfo{heard: map[ledger.KeyID]uint64{}, pending: map[uint64]api.FinalSample{}, open: map[ledger.Hash]struct{}{}}
}

// vote notes a ministry vote or a witness cosignature.
func (i *netInfo) vote(v *ledger.Vote) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if v.Seq > i.heard[v.Sig.Signer] {
		i.heard[v.Sig.Signer] = v.Seq
	}
}

// committed notes an applied checkpoint: its size, and the transfer cases it opened.
func (i *netInfo) committed(cb *ledger.CheckpointBody, res *ledger.Result, cases []ledger.Hash) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if len(i.pending) < maxPending {
		i.pending[cb.Checkpoint.Seq] = api.FinalSample{Seq: cb.Checkpoint.Seq, Time: cb.Checkpoint.Time, Blocks: len(cb.Blocks),
			Records: len(res.Receipts)}
	}
	for _, c := range cases {
		if len(i.open) < maxOpenCases {
			i.open[c] = struct{}{}
		}
	}
}

// finalized notes that the checkpoints up to meta.Seq are final at this node at nowMS.
func (i *netInfo) finalized(meta ledger.Meta, nowMS uint64) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for seq, s := range i.pending {
		if seq > meta.Seq {
			continue
		}
		delete(i.pending, seq)
		if seq <= i.final {
			continue
		}
		s.FinalAt = nowMS
		i.recent = append(i.recent, s)
	}
	i.final = max(i.final, meta.Seq)
	slices.SortFunc(i.recent, func(x, y api.FinalSample) int { return int(int64(x.Seq) - int64(y.Seq)) })
	if n := len(i.recent); n > maxSamples {
		i.recent = slices.Delete(i.recent, 0, n-maxSamples)
	}
}

// closed forgets transfer cases that are completed or rejected.
func (i *netInfo) closed(cases []ledger.Hash) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, c := range cases {
		delete(i.open, c)
	}
}

func (i *netInfo) snapshot() (heard map[ledger.KeyID]uint64, recent []api.FinalSample, open []ledger.Hash) {
	i.mu.Lock()
	defer i.mu.Unlock()
	heard = make(map[ledger.KeyID]uint64, len(i.heard))
	for k, v := range i.heard {
		heard[k] = v
	}
	recent = slices.Clone(i.recent)
	for c := range i.open {
		open = append(open, c)
	}
	slices.SortFunc(open, func(x, y ledger.Hash) int { return slices.Compare(x[:], y[:]) })
	return heard, recent, open
}

func apiHealth(h consensus.Health) api.ConsensusHealth {
	return api.ConsensusHealth{State: h.State.String(), Kind: h.Kind, Reason: h.Reason, Seq: h.Seq, Alarms: h.Alarms}
}

// Network implements api.Backend.
func (b backend) Network(ctx context.Context) (api.NetworkInfo, error) {
	n := b.n
	h, err := n.views.acquire()
	if err != nil {
		return api.NetworkInfo{}, err
	}
	defer h.release()
	reg, err := readRegistry(h.v)
	if err != nil {
		return api.NetworkInfo{}, err
	}
	out := api.NetworkInfo{Members: reg, Connected: map[ledger.KeyID]bool{}, Health: api.ConsensusHealth{State: "ok"}}
	if n.p2p != nil {
		for _, p := range n.p2p.Host().Network().Peers() {
			out.Connected[ledger.KeyID(p)] = true
		}
	}
	if m := n.ministry.Load(); m != nil {
		out.Health = apiHealth(m.Health())
	} else if n.witness != nil {
		out.Health = apiHealth(n.witness.Health())
	}
	var open []ledger.Hash
	out.Heard, out.Recent, open = n.info.snapshot()
	var closed []ledger.Hash
	for _, c := range open {
		t, ok, err := ledger.GetTransfer(h.v, c)
		if err != nil {
			return api.NetworkInfo{}, err
		}
		if !ok {
			continue // applied after this view; kept
		}
		if t.Stage == "completed" || t.Stage == "rejected" {
			closed = append(closed, c)
			continue
		}
		out.OpenCases = append(out.OpenCases, c)
	}
	n.info.closed(closed)
	return out, nil
}
