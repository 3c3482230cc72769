package intake

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const csvSample = `type,worker_id,hukou,employer,region,period,scheme,wage,flexible,base
contribution,440305199003071236,44,91440300123456788M,440300,2024-05,pension,800000,,
contribution,440524188001010014,44,,440300,2024-06,pension,,true,600000
contribution,bad,44
contribution,440305199003071236,44,91440300123456788M,440300,2024-05,pension,lots,,
`

const linesSample = `{"type":"contribution","worker_id":"440305199003071236","hukou":"44","employer":"91440300123456788M","region":"440300","period":"2024-05","scheme":"pension","wage":800000}
{"type":"contribution","worker_id":"440524188001010014","hukou":"44","region":"440300","period":"2024-06","scheme":"pension","flexible":true,"base":600000}

{"type":"contribution","wrokr_id":"x"}
not json
`

type read struct {
	line int
	in   *Input
	err  error
}

func collect(t *testing.T, f func(fn func(int, *Input, error) error) error) []read {
	t.Helper()
	var out []read
	if err := f(func(line int, in *Input, err error) error {
		out = append(out, read{line, in, err})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCSVAndLinesAgree: the same records read from CSV and JSON lines are identical, and bad rows
// are reported with their line numbers without stopping the read.
func TestCSVAndLinesAgree(t *testing.T) {
	rc := collect(t, func(fn func(int, *Input, error) error) error { return ReadCSV(strings.NewReader(csvSample), fn) })
	rl := collect(t, func(fn func(int, *Input, error) error) error { return ReadLines(strings.NewReader(linesSample), fn) })
	if len(rc) != 4 || len(rl) != 4 {
		t.Fatalf("csv %d rows, lines %d", len(rc), len(rl))
	}
	for i := range 2 {
		if rc[i].err != nil || rl[i].err != nil || !reflect.DeepEqual(rc[i].in, rl[i].in) {
			t.Fatalf("record %d: csv %+v %v, lines %+v %v", i, rc[i].in, rc[i].err, rl[i].in, rl[i].err)
		}
	}
	if rc[2].err == nil || rc[2].line != 4 || rc[3].err == nil || !strings.Contains(rc[3].err.Error(), "wage") {
		t.Fatalf("bad CSV rows: %+v", rc[2:])
	}
	if rl[2].err == nil || !strings.Contains(rl[2].err.Error(), "wrokr_id") || rl[2].line != 4 || rl[3].err == nil || rl[3].line != 5 {
		t.Fatalf("bad lines: %+v", rl[2:])
	}
	n := newNet(t)
	for _, r := range rc[:2] {
		if _, err := n.conv.Body(r.in, n.today); err != nil {
			t.Fatalf("line %d: %v", r.line, err)
		}
	}
}

func TestCSVRejectsUnknownColumn(t *testing.T) {
	if err := ReadCSV(strings.NewReader("type,wrokr_id\n"), func(int, *Input, error) error { return nil }); err == nil || !strings.Contains(err.Error(), "wrokr_id") {
		t.Fatalf("unknown column: %v", err)
	}
}

func TestDecodeBatch(t *testing.T) {
	ins, err := DecodeBatch(strings.NewReader(`{"records":[{"type":"contribution","wage":5}]}`))
	if err != nil || len(ins) != 1 || *ins[0].Wage != 5 {
		t.Fatalf("%+v %v", ins, err)
	}
	for _, bad := range []string{``, `{`, `{"records":[{"typo":1}]}`, `{"records":[]} {}`, `[1,2]`, `{"records":[{"wage":"5"}]}`} {
		if _, err := DecodeBatch(strings.NewReader(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	big, _ := json.Marshal(map[string]any{"records": make([]struct{}, MaxRecords+1)})
	if _, err := DecodeBatch(strings.NewReader(string(big))); err == nil {
		t.Error("more than MaxRecords accepted")
	}
}

// FuzzIntake feeds arbitrary bytes to every reader and converts whatever they read: nothing may
// panic, and a converted contribution must carry the rules' figures.
func FuzzIntake(f *testing.F) {
	f.Add([]byte(csvSample))
	f.Add([]byte(linesSample))
	f.Add([]byte(`{"records":[{"type":"correction","target":"00","reason":"withdrawn","record":{"type":"contribution"}}]}`))
	n := newNet(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		convert := func(_ int, in *Input, err error) error {
			if err == nil && in != nil {
				_, _ = n.conv.Body(in, n.today)
			}
			return nil
		}
		_ = ReadCSV(strings.NewReader(string(b)), convert)
		_ = ReadLines(strings.NewReader(string(b)), convert)
		if ins, err := DecodeBatch(strings.NewReader(string(b))); err == nil {
			for i := range ins {
				_, _ = n.conv.Body(&ins[i], n.today)
			}
		}
	})
}
