package statedb

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/jaminan/jaminan/ledger"
)

// seedRun returns the bytes of a real run file.
func seedRun(f *testing.F, compress bool, n int, del bool) []byte {
	dir := f.TempDir()
	w, err := createRun(dir, 1, Options{BlockSize: 64, Compress: compress}, n, nil)
	if err != nil {
		f.Fatal(err)
	}
	for i := range n {
		if err := w.add([]byte(fmt.Sprintf("key-%04d", i)), []byte(fmt.Sprintf("value-%d-abcabcabcabc", i)), del && i%3 == 0); err != nil {
			f.Fatal(err)
		}
	}
	r, err := w.finish(1, 2)
	if err != nil {
		f.Fatal(err)
	}
	r.release()
	b, err := os.ReadFile(filepath.Join(dir, runName(1)))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// fixChecksums makes the checksums of a would-be run file match its content, as far as its
// footer and index can be read, so that fuzzing reaches the parsers behind them.
func fixChecksums(b []byte) []byte {
	b = append([]byte(nil), b...)
	if len(b) < footerSize {
		return b
	}
	ft := b[len(b)-footerSize:]
	copy(ft[footerSize-8:], runMagic[:])
	be := binary.BigEndian
	end := uint64(len(b) - footerSize)
	in := func(off, n uint64) bool { return off <= end && n <= end-off }
	bloomOff, bloomLen := be.Uint64(ft[0:]), be.Uint64(ft[8:])
	tableOff, nblk := be.Uint64(ft[16:]), be.Uint64(ft[24:])
	keysOff, keysLen := be.Uint64(ft[32:]), be.Uint64(ft[40:])
	if nblk < end && in(tableOff, (nblk+1)*indexEntry) {
		table := b[tableOff : tableOff+(nblk+1)*indexEntry]
		for i := range nblk {
			off, next := be.Uint64(table[i*indexEntry+8:]), be.Uint64(table[(i+1)*indexEntry+8:])
			if off < next && next >= off+blockTrailer && next <= bloomOff && next <= end {
				blk := b[off:next]
				be.PutUint32(blk[len(blk)-4:], crc32.Checksum(blk[:len(blk)-4], castagnoli))
			}
		}
		be.PutUint32(ft[76:], crc32.Checksum(table, castagnoli))
	}
	if in(bloomOff, bloomLen) {
		be.PutUint32(ft[72:], crc32.Checksum(b[bloomOff:bloomOff+bloomLen], castagnoli))
	}
	if in(keysOff, keysLen) {
		be.PutUint32(ft[80:], crc32.Checksum(b[keysOff:keysOff+keysLen], castagnoli))
	}
	be.PutUint32(ft[footerCRC:], crc32.Checksum(ft[:footerCRC], castagnoli))
	return b
}

// FuzzOpenRun: any bytes as a run file → open (with and without full verification), scan
// and point reads never panic. With fix, the checksums are made to match first.
func FuzzOpenRun(f *testing.F) {
	f.Add(seedRun(f, false, 10, false), false)
	f.Add(seedRun(f, true, 10, true), true)
	f.Add(seedRun(f, true, 1, false), true)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, fix bool) {
		if fix {
			data = fixChecksums(data)
		}
		path := filepath.Join(t.TempDir(), runName(1))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, verify := range []bool{false, true} {
			file, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			r, err := loadRun(file, 1, runName(1), -1, verify)
			if err != nil {
				file.Close()
				continue
			}
			var keys [][]byte
			it := r.iter(scanChunk)
			for it.next() && len(keys) < 100 {
				keys = append(keys, append([]byte(nil), it.key...))
			}
			keys = append(keys, nil, []byte("key-0005"), []byte("zzzz"))
			for _, k := range keys {
				_, _, _, _ = r.get(k, hashKey(k))
			}
			it = r.iter(scanChunk)
			it.seek([]byte("key-0003"))
			for it.next() {
			}
			r.release()
		}
	})
}

// seedWAL returns the bytes of a real WAL.
func seedWAL(f *testing.F) []byte {
	dir := f.TempDir()
	db, err := Open(dir, 0, Options{Logger: quiet()})
	if err != nil {
		f.Fatal(err)
	}
	for seq, ws := range [][]ledger.Write{
		{{Key: []byte("a"), Value: []byte("1")}},
		{{Key: []byte("b"), Value: []byte("2")}, {Key: []byte("a"), Delete: true}},
		{},
	} {
		if err := db.Append(uint64(seq), ws); err != nil {
			f.Fatal(err)
		}
	}
	if err := db.Append(2, []ledger.Write{{Key: []byte("c"), Value: []byte("3")}}); err != nil { // a replacement
		f.Fatal(err)
	}
	name := db.wal.name
	db.Close()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzWAL: any bytes as the WAL → Open never panics; if it succeeds the state reads back.
func FuzzWAL(f *testing.F) {
	wal := seedWAL(f)
	f.Add(wal, uint8(2), false)
	f.Add(wal, uint8(1), false)
	f.Add(wal[:len(wal)-3], uint8(2), true)
	f.Add([]byte{}, uint8(0), false)
	f.Fuzz(func(t *testing.T, data []byte, applied uint8, flushed bool) {
		dir := t.TempDir()
		m := &manifest{nextFile: 2, wal: 1}
		if flushed {
			m.flushed, m.flushedValid = 1, true
		}
		if err := os.WriteFile(filepath.Join(dir, manifestName), m.encode(), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, walName(1)), data, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(dir, uint64(applied%5), Options{Logger: quiet()})
		if err != nil {
			return
		}
		defer db.Close()
		s, err := db.Snapshot(db.Last())
		if err != nil {
			t.Fatalf("snapshot at Last: %v", err)
		}
		defer s.Release()
		if err := s.Scan(nil, nil, func(k, v []byte) error { return nil }); err != nil {
			t.Fatalf("scan: %v", err)
		}
	})
}
