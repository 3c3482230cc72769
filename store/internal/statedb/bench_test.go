package statedb

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/jaminan/jaminan/ledger"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// fillKey writes a 40-byte key: 8 bytes of prefix, then 32 pseudo-random bytes of seed.
func fillKey(k []byte, prefix, seed uint64) {
	binary.BigEndian.PutUint64(k, prefix)
	for i := 8; i < 40; i += 8 {
		seed = splitmix(seed)
		binary.LittleEndian.PutUint64(k[i:], seed)
	}
}

// BenchmarkAppend: checkpoints of 1,000 writes (40-byte random keys, 120-byte values), each
// committed, with the default options (flushes and compactions included).
func BenchmarkAppend(b *testing.B) {
	const perAppend = 1000
	db, err := Open(b.TempDir(), 0, Options{Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ws := make([]ledger.Write, perAppend)
	keys := make([]byte, perAppend*40)
	val := make([]byte, 120)
	for i := range val {
		val[i] = byte(i)
	}
	for i := range ws {
		ws[i].Key = keys[i*40 : i*40+40]
		ws[i].Value = val
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := uint64(0)
	for seq := uint64(1); seq <= uint64(b.N); seq++ {
		for i := range ws {
			n++
			fillKey(ws[i].Key, splitmix(n), n)
		}
		if err := db.Append(seq, ws); err != nil {
			b.Fatal(err)
		}
		if err := db.Committed(seq); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perAppend), "ns/write")
	st := db.Stats()
	b.ReportMetric(float64(st.Flushes), "flushes")
	b.ReportMetric(float64(st.Compactions), "compactions")
}

const benchKeys = 1 << 20

var (
	benchOnce sync.Once
	benchDir  string
	benchDB   *DB
	benchErr  error
)

// benchState is an engine with benchKeys keys (40-byte keys, 100-byte values) built into one
// run, plus three small newer runs of 10,000 writes each. Key j of the big run has prefix 4j.
func benchState(b *testing.B) *DB {
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "statedb-bench")
		if benchErr != nil {
			return
		}
		key, val := make([]byte, 40), make([]byte, 100)
		for i := range val {
			val[i] = byte('a' + i%26)
		}
		j := uint64(0)
		next := func() ([]byte, []byte, bool, error) {
			if j == benchKeys {
				return nil, nil, false, nil
			}
			fillKey(key, 4*j, j)
			binary.BigEndian.PutUint64(val, j)
			j++
			return key, val, true, nil
		}
		if benchErr = Build(benchDir, 1, next, Options{}); benchErr != nil {
			return
		}
		benchDB, benchErr = Open(benchDir, 1, Options{MemBytes: 1, Logger: quiet()})
		if benchErr != nil {
			return
		}
		ws := make([]ledger.Write, 10000)
		for seq := uint64(2); seq <= 4; seq++ {
			for i := range ws {
				k := splitmix(seq<<32|uint64(i)) % benchKeys
				ws[i].Key = make([]byte, 40)
				fillKey(ws[i].Key, 4*k, k)
				ws[i].Value = []byte(fmt.Sprint("updated", seq))
			}
			if benchErr = benchDB.Append(seq, ws); benchErr != nil {
				return
			}
			if benchErr = benchDB.Committed(seq); benchErr != nil {
				return
			}
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDB
}

func benchGet(b *testing.B, hit bool) {
	db := benchState(b)
	s, err := db.Snapshot(db.Last())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Release()
	key := make([]byte, 40)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := splitmix(uint64(i)) % benchKeys
		prefix := 4 * k
		if !hit {
			prefix++
		}
		fillKey(key, prefix, k)
		_, ok, err := s.Get(key)
		if err != nil || ok != hit {
			b.Fatalf("get: %v %v", ok, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(db.Stats().Runs), "runs")
}

// BenchmarkGetHit: point reads of present keys, random over ~1M keys in runs.
func BenchmarkGetHit(b *testing.B) { benchGet(b, true) }

// BenchmarkGetMiss: point reads of absent keys.
func BenchmarkGetMiss(b *testing.B) { benchGet(b, false) }
