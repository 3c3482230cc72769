package consensus

import (
	"bytes"
	"errors"
	"testing"
)

func TestCommandRoundTrip(t *testing.T) {
	b := Batch{Time: 1234567, Cut: true, Refs: []Ref{ref(0, 1), ref(1, 7)}}
	enc, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if enc[0] != CommandVersion || enc[1] != KindBatch || len(enc) != batchHead+2*refLen {
		t.Fatalf("layout: % x", enc[:2])
	}
	got, _, err := DecodeCommand(enc)
	if err != nil {
		t.Fatal(err)
	}
	re, _ := got.Encode()
	if !bytes.Equal(re, enc) || got.Time != b.Time || !got.Cut || len(got.Refs) != 2 || got.Refs[1] != b.Refs[1] {
		t.Fatalf("round trip: %+v", got)
	}
}

func TestDecodeCommandRejects(t *testing.T) {
	good, _ := (&Batch{Time: 1, Refs: []Ref{ref(0, 1)}}).Encode()
	cases := map[string][]byte{
		"empty":         nil,
		"version":       append([]byte{2}, good[1:]...),
		"kind":          append([]byte{1, 2}, good[2:]...),
		"flags":         func() []byte { b := bytes.Clone(good); b[10] = 2; return b }(),
		"count":         func() []byte { b := bytes.Clone(good); b[14] = 2; return b }(),
		"trailing":      append(bytes.Clone(good), 0),
		"short":         good[:len(good)-1],
		"height zero":   func() []byte { b := bytes.Clone(good); copy(b[batchHead+keyIDLen:], make([]byte, 8)); return b }(),
		"producer form": func() []byte { b := bytes.Clone(good); b[batchHead] = 0x12; return b }(),
	}
	for name, b := range cases {
		if _, _, err := DecodeCommand(b); !errors.Is(err, ErrCommand) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	if _, ign, err := DecodeCommand([]byte{1, 0x81}); !errors.Is(err, ErrUnknownCommand) || !ign {
		t.Errorf("ignorable kind: %v %v", ign, err)
	}
}

func FuzzDecodeCommand(f *testing.F) {
	good, _ := (&Batch{Time: 1, Cut: true, Refs: []Ref{ref(0, 1), ref(2, 3)}}).Encode()
	f.Add(good)
	f.Add([]byte{1, 1})
	f.Add([]byte{1, 0x81, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, _, err := DecodeCommand(b)
		if err != nil {
			return
		}
		re, err := c.Encode()
		if err != nil {
			t.Fatalf("decoded command does not encode: %v", err)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("not canonical: % x re-encodes as % x", b, re)
		}
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	fsm, _ := newTestFSM(f)
	fsm.ApplyBatch(script(f))
	snap, _ := fsm.Snapshot()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		f.Fatal(err)
	}
	f.Add(sink.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeSnapshot(b, "jaminan-ledgertest") // must not panic
	})
}
