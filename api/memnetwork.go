package api

import (
	"context"
	"slices"

	"github.com/jaminan/jaminan/ledger"
)

// maxMemSamples bounds the recent checkpoints MemBackend.Network reports.
const maxMemSamples = 300

// Network implements Backend: the in-memory node is connected to, and has heard at every
// checkpoint, each ministry signer (they certify every checkpoint); each checkpoint is final the
// moment it is applied.
func (m *MemBackend) Network(ctx context.Context) (NetworkInfo, error) {
	if err := ctx.Err(); err != nil {
		return NetworkInfo{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	info := NetworkInfo{Connected: map[ledger.KeyID]bool{}, Heard: map[ledger.KeyID]uint64{}, Health: ConsensusHealth{State: "ok"}}
	for _, mem := range m.members {
		info.Members = append(info.Members, mem)
	}
	slices.SortFunc(info.Members, func(x, y ledger.Member) int {
		if x.Role != y.Role {
			if x.Role < y.Role {
				return -1
			}
			return 1
		}
		if x.ID < y.ID {
			return -1
		}
		if x.ID > y.ID {
			return 1
		}
		return 0
	})
	for _, s := range m.ministry {
		info.Connected[s.ID()] = true
		info.Heard[s.ID()] = uint64(len(m.cps))
	}
	for _, c := range m.cps[max(0, len(m.cps)-maxMemSamples):] {
		info.Recent = append(info.Recent, FinalSample{Seq: c.body.Checkpoint.Seq, Time: c.body.Checkpoint.Time,
			FinalAt: c.body.Checkpoint.Time, Blocks: len(c.body.Blocks), Records: len(c.res.Receipts)})
	}
	for _, refs := range m.workers {
		for _, r := range refs {
			if r.Type != ledger.TypeTransferApply {
				continue
			}
			if t, ok, err := ledger.GetTransfer(m.st, r.ID); err == nil && ok && t.Stage != "completed" && t.Stage != "rejected" {
				info.OpenCases = append(info.OpenCases, r.ID)
			}
		}
	}
	slices.SortFunc(info.OpenCases, func(x, y ledger.Hash) int { return slices.Compare(x[:], y[:]) })
	return info, nil
}
