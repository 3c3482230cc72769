package ledger

import (
	"encoding/binary"
	"runtime"
	"slices"
	"testing"
)

// TestResult_ReleaseReusesBuffers applies the same checkpoints of 300 contributions each to two
// fresh copies of a network, one keeping its results and one releasing each after its commit.
// Released buffers must change no receipt and no root, and must be what the next Apply uses:
// it then allocates well under what it does with every result kept.
func TestResult_ReleaseReusesBuffers(t *testing.T) {
	n := newTnet(t)
	p := n.bureau["44"]
	const per, cps = 300, 10
	var blocks []*Block
	var id [8]byte
	for i := range cps {
		recs := make([][]byte, per)
		for j := range recs {
			c := n.contribution(worker(0), "440300", 202301, 800000)
			binary.BigEndian.PutUint64(id[:], uint64(i*per+j))
			c.Worker = Pseudonym([]byte("release"), string(id[:]))
			recs[j] = n.rec(p, c)
		}
		blocks = append(blocks, n.block(p, recs...))
	}
	// run applies every block as its own checkpoint and returns the results' roots and codes,
	// and the bytes Apply allocated from the third checkpoint on (the first fills the pool).
	run := func(release bool) (roots []Hash, codes [][]string, allocated uint64) {
		w := newTnet(t)
		w.time = n.time
		var ms runtime.MemStats
		for i, b := range blocks {
			cb := w.next([]*Block{b})
			runtime.ReadMemStats(&ms)
			before := ms.TotalAlloc
			res, err := w.m.Apply(w.st, cb, []*Block{b})
			runtime.ReadMemStats(&ms)
			if err != nil {
				t.Fatal(err)
			}
			if i >= 2 {
				allocated += ms.TotalAlloc - before
			}
			w.st.Commit(res.Writes)
			roots = append(roots, res.StateRoot)
			var cs []string
			for _, r := range res.Receipts {
				cs = append(cs, r.Code)
			}
			codes = append(codes, cs)
			if release {
				res.Release()
				if res.Writes != nil || res.Receipts != nil {
					t.Fatal("a released result still shows its writes or receipts")
				}
				res.Release() // a second release is a no-op
			}
		}
		return roots, codes, allocated
	}
	keptRoots, keptCodes, kept := run(false)
	relRoots, relCodes, released := run(true)
	if !slices.Equal(keptRoots, relRoots) {
		t.Fatal("releasing results changed the state roots")
	}
	for i := range keptCodes {
		if !slices.Equal(keptCodes[i], relCodes[i]) {
			t.Fatalf("releasing results changed the receipts of checkpoint %d", i+1)
		}
		if keptCodes[i][0] != CodeOK {
			t.Fatalf("checkpoint %d: receipt %s, want ok", i+1, keptCodes[i][0])
		}
	}
	t.Logf("Apply allocated %d bytes per checkpoint with results kept, %d with results released", kept/(cps-2), released/(cps-2))
	if released*2 > kept {
		t.Fatalf("with results released Apply allocated %d bytes, kept %d: the buffers are not reused", released, kept)
	}
	var nilResult *Result
	nilResult.Release()
}
