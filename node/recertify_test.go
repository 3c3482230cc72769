package node

import (
	"encoding/binary"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/jaminan/jaminan/intake"
)

// TestMinistryCrashOfAllVotesAgain: every ministry node stopped after applying a checkpoint
// whose certificate none of them holds (what a crash of all of them between the apply and the
// votes leaves; made here by removing the last certificate from each store). After the restart
// they vote on it again, so the chain of certificates goes on and a bureau, which applies only
// certified checkpoints, moves past it (the torture suite's full-restart scenario found the
// whole network stopped at such a gap for good).
func TestMinistryCrashOfAllVotesAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three ministry nodes and two bureaus, the ministry restarted together, for about 10 s")
	}
	names := []string{"ministry-1", "ministry-2", "ministry-3"}
	tn := newTestNet(t, append(names, "bureau-44", "bureau-51")...)
	ministry := map[string]*Node{}
	for _, name := range names {
		ministry[name] = tn.start(name)
	}
	b44 := tn.start("bureau-44")
	submit := func(b *Node, gen interface{ Next() []intake.Input }, rounds int) []string {
		var last []string
		for range rounds {
			res, err := c2(b).Submit(t.Context(), gen.Next())
			if err != nil {
				t.Fatalf("submit: %v", err)
			}
			last = last[:0]
			for _, a := range res.Accepted {
				last = append(last, a.ID)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return last
	}
	last := submit(b44, contributions(400, "44"), 20)
	for _, name := range names {
		waitFinal(t, ministry[name], last, 60*time.Second)
	}
	// Bureau 44 holds every certificate; it stays down, so that only the ministry can supply them.
	closeNode(t, b44)
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Add(1)
		go func() { defer wg.Done(); closeNode(t, ministry[name]) }()
	}
	wg.Wait()
	var gap uint64
	for _, name := range names {
		gap = max(gap, dropLastCertificate(t, filepath.Join(tn.cfgs[name].DataDir, "ledger")))
	}
	t.Logf("certificate of the last applied checkpoint (up to %d) removed on every ministry node", gap)
	for _, name := range names {
		ministry[name] = tn.start(name)
	}
	// A new bureau syncs the history from the ministry and submits records of its own.
	b51 := tn.start("bureau-51")
	last = submit(b51, contributions(400, "51"), 10)
	waitFinal(t, b51, last, 60*time.Second)
	if fs, _ := b51.chain.FinalSeq(); fs <= gap {
		t.Errorf("bureau 51 final %d, not past %d", fs, gap)
	}
	for _, name := range names {
		if fs, _ := ministry[name].chain.FinalSeq(); fs <= gap {
			t.Errorf("%s final %d, not past %d", name, fs, gap)
		}
	}
}

// dropLastCertificate removes the certificate of the last certified checkpoint from a stopped
// node's store (the key layout of store/keys.go: 'Z' | seq, big-endian) and returns its
// sequence.
func dropLastCertificate(t *testing.T, dir string) uint64 {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithValueLogFileSize(64 << 20).
		WithMemTableSize(16 << 20).WithCompression(options.ZSTD).WithSyncWrites(true))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var last []byte
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{'Z'}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			last = it.Item().KeyCopy(nil)
		}
		return nil
	})
	if err != nil || len(last) != 9 {
		t.Fatalf("find the last certificate in %s: %v (key %x)", dir, err, last)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Delete(last) }); err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint64(last[1:])
}
