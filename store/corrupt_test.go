package store

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const (
	corruptDirEnv  = "JAMINAN_STORE_CORRUPT_DIRS" // "dirA,dirB": selects child mode
	corruptWantEnv = "JAMINAN_STORE_CORRUPT_WANT" // "seq:digest" of the undamaged store
)

// TestCorruptChild is the child process of TestCorruptFiles (it skips itself otherwise). It
// opens copy A of a damaged store with the default checks and copy B with VerifyFull, and
// prints one outcome line for each:
//
//	A|B open-error <err>   Open refused the store
//	A|B verified           Open succeeded and the state is the undamaged one, replay included
//	A|B read-error <err>   Open succeeded, then a read failed with an error
//	A|B different <what>   Open succeeded and reads gave another state without an error
//
// A panic kills the child, which the parent sees.
func TestCorruptChild(t *testing.T) {
	dirs := os.Getenv(corruptDirEnv)
	if dirs == "" {
		t.Skip("the child process of TestCorruptFiles")
	}
	seqText, digest, _ := strings.Cut(os.Getenv(corruptWantEnv), ":")
	wantSeq, _ := strconv.ParseUint(seqText, 10, 64)
	a, b, _ := strings.Cut(dirs, ",")
	for _, run := range []struct {
		name, dir string
		verify    Verify
	}{{"A", a, VerifyTables}, {"B", b, VerifyFull}} {
		fmt.Printf("%s %s\n", run.name, openAndVerify(run.dir, run.verify, wantSeq, digest))
	}
}

func openAndVerify(dir string, verify Verify, wantSeq uint64, wantDigest string) string {
	oneLine := func(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }
	s, err := Open(dir, Options{Verify: verify})
	if err != nil {
		return "open-error " + oneLine(err)
	}
	defer s.Close()
	v := s.View()
	defer v.Release()
	meta, err := v.Meta()
	if err != nil {
		return "read-error " + oneLine(err)
	}
	if err := v.VerifyState(context.Background()); err != nil {
		return "read-error " + oneLine(err)
	}
	d, _, err := v.StateDigest()
	if err != nil {
		return "read-error " + oneLine(err)
	}
	if meta.Seq != wantSeq || d.String() != wantDigest {
		return fmt.Sprintf("different: at %d with digest %s", meta.Seq, d)
	}
	return "verified"
}

// TestCorruptFiles damages each file of a closed store — MANIFEST, every table (.sst) and value
// log (.vlog) — in several ways (truncated to nothing, to half, by one byte; one byte flipped at
// the start, middle and end; a run of zeros; a run of garbage), and opens a copy in a child
// process, which must not panic. With the default checks, Open must refuse, or the state must be
// the undamaged one, or reads must fail with an error: never a different state served without
// one. With VerifyFull, Open must refuse or the state must be the undamaged one.
func TestCorruptFiles(t *testing.T) {
	pristine := t.TempDir()
	s := openDisk(t, pristine, Options{MemTableSize: 1 << 20, StateMemBytes: 64 << 10})
	f := newFixture(t, s, 9)
	for i := range 60 {
		f.next(1+i%5, 40)
	}
	v := s.View()
	meta, _ := v.Meta()
	digest, _, err := v.StateDigest()
	v.Release()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// badger's files, and the state engine's (state/<generation>/: its MANIFEST, runs and log).
	var targets []string
	var stateFiles int
	err = filepath.WalkDir(pristine, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(pristine, path)
		ext := filepath.Ext(e.Name())
		inState := strings.HasPrefix(rel, "state"+string(filepath.Separator))
		if e.Name() == "MANIFEST" || ext == ".sst" || ext == ".vlog" || (inState && (ext == ".run" || ext == ".wal")) {
			if fi, _ := e.Info(); fi.Size() > 0 {
				targets = append(targets, rel)
				if inState {
					stateFiles++
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(targets)
	if len(targets) < 3 || stateFiles < 3 {
		t.Fatalf("too few files to damage: %v", targets)
	}
	type damage struct {
		name string
		do   func(b []byte) []byte
	}
	xor := func(at func(n int) int) func(b []byte) []byte { // flip every bit of one byte
		return func(b []byte) []byte {
			b[min(at(len(b)), len(b)-1)] ^= 0xff
			return b
		}
	}
	fill := func(at func(n int) int, n int, val func(i int) byte) func(b []byte) []byte {
		return func(b []byte) []byte {
			for i := at(len(b)); i < min(at(len(b))+n, len(b)); i++ {
				b[i] = val(i)
			}
			return b
		}
	}
	damages := []damage{
		{"truncate to 0", func(b []byte) []byte { return b[:0] }},
		{"truncate to half", func(b []byte) []byte { return b[:len(b)/2] }},
		{"truncate by 1", func(b []byte) []byte { return b[:len(b)-1] }},
		{"flip first byte", xor(func(int) int { return 0 })},
		{"flip middle byte", xor(func(n int) int { return n / 2 })},
		{"flip byte near end", xor(func(n int) int { return max(n-9, 0) })},
		{"zero 1 KiB at a third", fill(func(n int) int { return n / 3 }, 1024, func(int) byte { return 0 })},
		{"garbage 64 B at two thirds", fill(func(n int) int { return 2 * n / 3 }, 64, func(i int) byte { return byte(i*131 + 7) })},
	}

	if raceEnabled {
		// Each case runs a child binary built with the race detector, about 20 times slower:
		// keep a truncation, a flip and a run of zeros.
		damages = []damage{damages[1], damages[4], damages[6]}
	}
	counts := map[string]int{}
	var table []string
	for _, target := range targets {
		for _, d := range damages {
			name := target + ": " + d.name
			a, b := t.TempDir(), t.TempDir()
			for _, dir := range []string{a, b} {
				copyDir(t, pristine, dir)
				p := filepath.Join(dir, target)
				raw, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, d.do(raw), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestCorruptChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), corruptDirEnv+"="+a+","+b, fmt.Sprintf("%s=%d:%s", corruptWantEnv, meta.Seq, digest))
			out, err := cmd.CombinedOutput()
			if err != nil || strings.Contains(string(out), "panic: ") {
				t.Fatalf("%s: the child failed (%v):\n%s", name, err, out)
			}
			outcome := map[string]string{}
			for _, line := range strings.Split(string(out), "\n") {
				if run, rest, ok := strings.Cut(line, " "); ok && (run == "A" || run == "B") {
					outcome[run], _, _ = strings.Cut(rest, " ")
					if strings.HasPrefix(rest, "open-error") || strings.HasPrefix(rest, "read-error") {
						t.Logf("%s: %s %s", name, run, rest)
					}
				}
			}
			switch {
			case outcome["A"] != "open-error" && outcome["A"] != "verified" && outcome["A"] != "read-error":
				t.Errorf("%s: default checks: %q\n%s", name, outcome["A"], out)
			case outcome["B"] != "open-error" && outcome["B"] != "verified":
				t.Errorf("%s: VerifyFull: %q\n%s", name, outcome["B"], out)
			case filepath.Base(target) == "MANIFEST" && strings.HasPrefix(d.name, "truncate") && outcome["A"] != "open-error":
				t.Errorf("%s: a truncated MANIFEST was accepted (%s)", name, outcome["A"])
			}
			counts["A "+outcome["A"]]++
			counts["B "+outcome["B"]]++
			table = append(table, fmt.Sprintf("%-40s A %-10s B %s", name, outcome["A"], outcome["B"]))
		}
	}
	t.Logf("outcomes:\n%s\ncounts: %v", strings.Join(table, "\n"), counts)
	if counts["B open-error"] == 0 {
		t.Fatal("no damage was detected at all")
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() { // the journal directory (empty between checkpoints) and the state's
			if err := os.MkdirAll(filepath.Join(to, e.Name()), 0o700); err != nil {
				t.Fatal(err)
			}
			copyDir(t, filepath.Join(from, e.Name()), filepath.Join(to, e.Name()))
			continue
		}
		raw, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
