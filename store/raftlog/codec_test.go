package raftlog

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func sampleLogs() []raft.Log {
	return []raft.Log{
		{},
		{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: []byte("cfg")},
		{Index: 1<<63 + 5, Term: 1<<64 - 1, Type: raft.LogCommand, Data: bytes.Repeat([]byte{0xAB}, 1000),
			Extensions: []byte("ext"), AppendedAt: time.Unix(1_800_000_000, 123456789)},
		{Index: 300, Term: 7, Type: raft.LogType(200), AppendedAt: time.Unix(-5, 0)},
	}
}

func logsEqual(a, b raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Extensions, b.Extensions) &&
		a.AppendedAt.Equal(b.AppendedAt)
}

func TestCodecRoundTrip(t *testing.T) {
	for _, want := range sampleLogs() {
		enc := encodeLog(nil, &want)
		if len(enc) > encodedLen(&want) {
			t.Errorf("encoded %d bytes, bound says %d", len(enc), encodedLen(&want))
		}
		var got raft.Log
		if err := decodeLog(enc, &got); err != nil {
			t.Fatalf("decode %+v: %v", want, err)
		}
		if !logsEqual(got, want) {
			t.Errorf("round trip: got %+v, want %+v", got, want)
		}
	}
}

// A time outside the int64 nanosecond range cannot be stored; it reads back
// as the zero time rather than as a wrapped-around date.
func TestCodecUnrepresentableTime(t *testing.T) {
	in := raft.Log{Index: 3, AppendedAt: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}
	var out raft.Log
	if err := decodeLog(encodeLog(nil, &in), &out); err != nil {
		t.Fatal(err)
	}
	if !out.AppendedAt.IsZero() {
		t.Fatalf("AppendedAt = %v, want zero", out.AppendedAt)
	}
}

// Every truncation and every single-bit flip of a valid encoding must be
// rejected with ErrCorrupt.
func TestCodecRejectsDamage(t *testing.T) {
	for _, l := range sampleLogs() {
		enc := encodeLog(nil, &l)
		for n := 0; n < len(enc); n++ {
			var out raft.Log
			if err := decodeLog(enc[:n], &out); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("truncated to %d of %d: err = %v, want ErrCorrupt", n, len(enc), err)
			}
		}
		for i := 0; i < len(enc) && i < 64; i++ {
			for bit := 0; bit < 8; bit++ {
				b := bytes.Clone(enc)
				b[i] ^= 1 << bit
				var out raft.Log
				if err := decodeLog(b, &out); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("bit %d of byte %d flipped: err = %v, want ErrCorrupt", bit, i, err)
				}
			}
		}
	}
}

func FuzzDecodeLog(f *testing.F) {
	for _, l := range sampleLogs() {
		f.Add(encodeLog(nil, &l))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var l raft.Log
		if err := decodeLog(b, &l); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		// Whatever decodes must survive a re-encode unchanged in meaning.
		var again raft.Log
		if err := decodeLog(encodeLog(nil, &l), &again); err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if !logsEqual(l, again) {
			t.Fatalf("re-encode changed the entry: %+v vs %+v", l, again)
		}
	})
}

func FuzzLogRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint64(1), uint8(0), []byte("x"), []byte(nil), int64(0))
	f.Add(uint64(1<<40), uint64(9), uint8(5), []byte(nil), []byte("e"), int64(1_700_000_000_000_000_000))
	f.Fuzz(func(t *testing.T, idx, term uint64, typ uint8, data, ext []byte, nanos int64) {
		in := raft.Log{Index: idx, Term: term, Type: raft.LogType(typ), Data: data, Extensions: ext}
		if nanos != 0 {
			in.AppendedAt = time.Unix(0, nanos)
		}
		var out raft.Log
		if err := decodeLog(encodeLog(nil, &in), &out); err != nil {
			t.Fatal(err)
		}
		if len(in.Data) == 0 {
			in.Data = nil
		}
		if len(in.Extensions) == 0 {
			in.Extensions = nil
		}
		if y := in.AppendedAt.Year(); y < minYear || y > maxYear {
			in.AppendedAt = time.Time{}
		}
		if !logsEqual(in, out) {
			t.Fatalf("got %+v, want %+v", out, in)
		}
	})
}
