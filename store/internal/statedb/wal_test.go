package statedb

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/jaminan/jaminan/ledger"
)

// walFixture is a closed engine holding checkpoints 1..3 in its WAL only (no flush).
type walFixture struct {
	files   map[string][]byte
	wal     string
	offs    []int // start of each record, then the file size
	states  []model
	compare func(t *testing.T, db *DB, seq uint64)
}

func newWALFixture(t *testing.T) *walFixture {
	dir := t.TempDir()
	db := mustOpen(t, dir, 0, Options{Logger: quiet()})
	rng := rand.New(rand.NewPCG(5, 5))
	cur := model{}
	f := &walFixture{states: []model{{}}}
	for seq := uint64(1); seq <= 3; seq++ {
		ws := randWrites(rng, 4, 20)
		if err := db.Append(seq, ws); err != nil {
			t.Fatal(err)
		}
		cur.apply(ws)
		snap := model{}
		for k, v := range cur {
			snap[k] = v
		}
		f.states = append(f.states, snap)
	}
	f.wal = db.wal.name
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	f.files = readDir(t, dir)
	b := f.files[f.wal]
	for off := 0; off < len(b); off += walHeader + int(binary.BigEndian.Uint32(b[off:])) {
		f.offs = append(f.offs, off)
	}
	f.offs = append(f.offs, len(b))
	if len(f.offs) != 4 {
		t.Fatalf("%d records", len(f.offs)-1)
	}
	f.compare = func(t *testing.T, db *DB, seq uint64) {
		t.Helper()
		if db.Last() != seq {
			t.Fatalf("Last() = %d, want %d", db.Last(), seq)
		}
		s, err := db.Snapshot(seq)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Release()
		if d := diff(f.states[seq], scanAll(t, s, nil, nil)); d != "" {
			t.Fatalf("at %d: %s", seq, d)
		}
	}
	return f
}

// with returns the fixture's files with the WAL replaced by wal.
func (f *walFixture) with(wal []byte) map[string][]byte {
	files := map[string][]byte{}
	for k, v := range f.files {
		files[k] = v
	}
	files[f.wal] = wal
	return files
}

// TestTornWAL cuts the WAL at every byte of its last record: Open with applied = the
// checkpoint before works, drops the torn record and truncates the file; Open with applied =
// the torn checkpoint is ErrCorrupt.
func TestTornWAL(t *testing.T) {
	f := newWALFixture(t)
	wal := f.files[f.wal]
	last := f.offs[2]
	for cut := last; cut < len(wal); cut++ {
		dir := writeDir(t, f.with(wal[:cut]))
		db, err := Open(dir, 2, Options{Logger: quiet()})
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		f.compare(t, db, 2)
		db.Close()
		if st, _ := os.Stat(filepath.Join(dir, f.wal)); st.Size() != int64(last) {
			t.Fatalf("cut at %d: WAL of %d bytes after Open, want %d", cut, st.Size(), last)
		}
		// Checkpoint 3 is now cleanly missing.
		_, err = Open(writeDir(t, f.with(wal[:cut])), 3, Options{Logger: quiet()})
		if cut == last {
			wantErr(t, err, ErrMissing, fmt.Sprintf("cut at %d, applied 3", cut))
		} else {
			wantErr(t, err, ErrCorrupt, fmt.Sprintf("cut at %d, applied 3", cut))
		}
	}
	// A zero-filled tail (a torn write the file system extended) is dropped too.
	zeros := append(append([]byte(nil), wal...), make([]byte, 100)...)
	dir := writeDir(t, f.with(zeros))
	db := mustOpen(t, dir, 3, Options{Logger: quiet()})
	f.compare(t, db, 3)
	db.Close()
	// An uncommitted last record is dropped whole.
	dir = writeDir(t, f.with(wal))
	db = mustOpen(t, dir, 2, Options{Logger: quiet()})
	f.compare(t, db, 2)
	if err := db.Append(3, []ledger.Write{{Key: []byte("x"), Value: []byte("y")}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = mustOpen(t, dir, 3, Options{Logger: quiet()})
	s, _ := db.Snapshot(3)
	if v, ok, _ := s.Get([]byte("x")); !ok || string(v) != "y" {
		t.Fatalf("rewritten 3: %q %v", v, ok)
	}
	s.Release()
	db.Close()
}

// TestCorruptWAL flips every byte of the middle record: Open must fail with ErrCorrupt, both
// with the damaged checkpoint committed and with only the one before committed plus a later
// one present.
func TestCorruptWAL(t *testing.T) {
	f := newWALFixture(t)
	wal := f.files[f.wal]
	for off := f.offs[1]; off < f.offs[2]; off++ {
		for _, applied := range []uint64{2, 3} {
			b := append([]byte(nil), wal...)
			b[off] ^= 0x41
			_, err := Open(writeDir(t, f.with(b)), applied, Options{Logger: quiet()})
			wantErr(t, err, ErrCorrupt, fmt.Sprintf("flip at %d, applied %d", off, applied))
		}
	}
	// Records out of order are corruption too.
	b := append([]byte(nil), wal[f.offs[1]:f.offs[2]]...)
	b = append(b, wal[:f.offs[1]]...)
	_, err := Open(writeDir(t, f.with(b)), 2, Options{Logger: quiet()})
	wantErr(t, err, ErrCorrupt, "records out of order")
	// A missing WAL after a flush is corruption.
	dir := t.TempDir()
	db := mustOpen(t, dir, 0, Options{MemBytes: 1, Logger: quiet()})
	commit(t, db, 1, []ledger.Write{{Key: []byte("k"), Value: []byte("v")}})
	if err := db.waitFlush(); err != nil {
		t.Fatal(err)
	}
	wal2 := db.wal.name
	db.Close()
	if err := os.Remove(filepath.Join(dir, wal2)); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, 1, Options{Logger: quiet()})
	wantErr(t, err, ErrCorrupt, "missing WAL")
}

func TestRecordRoundTrip(t *testing.T) {
	ws := []ledger.Write{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Delete: true}, {Key: nil, Value: nil}}
	rec := appendRecord(nil, 7, ws)
	if len(rec) != recordSize(7, ws) {
		t.Fatalf("record of %d bytes, recordSize says %d", len(rec), recordSize(7, ws))
	}
	seq, got, err := decodePayload(rec[walHeader:], nil)
	if err != nil || seq != 7 || len(got) != 3 || string(got[0].Value) != "1" || !got[1].Delete || got[2].Delete {
		t.Fatalf("decode: %d %+v %v", seq, got, err)
	}
}
