package ledger_test

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLedgerIsPure guards the rule that the ledger core is a pure, deterministic state machine:
// no networking, no storage engine, no consensus library, no randomness, no wall clock, no
// goroutines and no floating point. It has two halves.
//
// Transitive dependencies (go list -deps ./ledger/...). Only the non-standard modules and the
// standard packages that no dependency legitimately pulls in are forbidden here. "net",
// "math/rand" and "math/rand/v2" cannot be forbidden transitively: "net" arrives through
// github.com/libp2p/go-libp2p/core/peer → github.com/multiformats/go-multiaddr (and crypto/x509),
// and math/rand(/v2) through math/big, crypto/ecdsa and github.com/fxamacker/cbor/v2. Those are
// caught by the second half instead, which looks at what ledger code itself imports and calls.
//
// Source (every non-test .go file under ledger/, parsed with go/parser): no import of os, os/…,
// net, net/…, math/rand or math/rand/v2; no call of the wall-clock or timer functions of package
// time (Now, Since, Until, Sleep, Tick, After, AfterFunc, NewTimer, NewTicker) — time.Date,
// time.Unix and friends are pure and allowed; no go statement; no float32, float64, complex64 or
// complex128 identifier and no floating-point or imaginary literal.
func TestLedgerIsPure(t *testing.T) {
	root := moduleRoot(t)
	t.Run("deps", func(t *testing.T) { checkDeps(t, root) })
	t.Run("source", func(t *testing.T) {
		for _, v := range checkSource(t, filepath.Join(root, "ledger")) {
			t.Error(v)
		}
	})
}

// forbiddenDeps are import paths that must not appear among the transitive dependencies of any
// ledger package; a path is forbidden if it equals an entry or starts with the entry and "/".
var forbiddenDeps = []string{
	"net/http",
	"os/exec",
	"github.com/hashicorp/raft",
	"github.com/dgraph-io/badger",
	"github.com/libp2p/go-libp2p/p2p",
	"github.com/libp2p/go-libp2p-pubsub",
}

// forbiddenImports are import paths ledger source must not name directly (same matching rule).
var forbiddenImports = []string{"os", "net", "math/rand", "math/rand/v2"}

// forbiddenTime are the functions of package time that read the clock or start timers.
var forbiddenTime = map[string]bool{
	"Now": true, "Since": true, "Until": true, "Sleep": true, "Tick": true, "After": true,
	"AfterFunc": true, "NewTimer": true, "NewTicker": true,
}

var floatTypes = map[string]bool{"float32": true, "float64": true, "complex64": true, "complex128": true}

func matches(path string, list []string) bool {
	for _, f := range list {
		if path == f || strings.HasPrefix(path, f+"/") {
			return true
		}
	}
	return false
}

// moduleRoot walks up from the working directory to the directory holding go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

func checkDeps(t *testing.T, root string) {
	goBin, err := exec.LookPath("go") // go test puts $GOROOT/bin first on PATH
	if err != nil {
		t.Fatalf("go command not found: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", "./ledger/...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	n := 0
	for _, p := range strings.Fields(string(out)) {
		n++
		if matches(p, forbiddenDeps) {
			t.Errorf("ledger depends (transitively) on forbidden package %s", p)
		}
	}
	if n == 0 {
		t.Fatal("go list reported no packages")
	}
}

// checkSource parses every non-test .go file under dir (skipping testdata and the directories the
// go command ignores) and returns one message per violation.
func checkSource(t *testing.T, dir string) []string {
	t.Helper()
	var violations []string
	files := 0
	fset := token.NewFileSet()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != dir && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		violations = append(violations, checkFile(fset, f)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no Go files found under %s", dir)
	}
	return violations
}

func checkFile(fset *token.FileSet, f *ast.File) []string {
	var out []string
	report := func(p token.Pos, format string, args ...any) {
		out = append(out, fmt.Sprintf("%s: %s", fset.Position(p), fmt.Sprintf(format, args...)))
	}
	timeName := "" // the local name of package time in this file, if imported
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			report(imp.Pos(), "bad import path %s", imp.Path.Value)
			continue
		}
		if matches(path, forbiddenImports) {
			report(imp.Pos(), "imports %q", path)
		}
		if path == "time" {
			timeName = "time"
			if imp.Name != nil {
				timeName = imp.Name.Name
				if timeName == "." {
					report(imp.Pos(), `dot-imports "time", which hides clock reads from this check`)
				}
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			report(n.Pos(), "go statement")
		case *ast.Ident:
			if floatTypes[n.Name] {
				report(n.Pos(), "uses floating-point type %s", n.Name)
			}
		case *ast.BasicLit:
			if n.Kind == token.FLOAT || n.Kind == token.IMAG {
				report(n.Pos(), "floating-point literal %s", n.Value)
			}
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && timeName != "" && x.Name == timeName && forbiddenTime[n.Sel.Name] {
				report(n.Pos(), "calls %s.%s", x.Name, n.Sel.Name)
			}
		}
		return true
	})
	return out
}

// TestLedgerIsPureDetects makes sure the source check is not vacuous: a file breaking every rule
// must produce one violation per rule.
func TestLedgerIsPureDetects(t *testing.T) {
	const src = `package bad

import (
	"os"
	"math/rand"
	clock "time"
)

var x float64 = 1.5

func f() {
	_ = os.Args
	_ = rand.Int()
	_ = clock.Now()
	go f()
}
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	// A test file breaking the rules is allowed.
	if err := os.WriteFile(filepath.Join(dir, "bad_test.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got := checkSource(t, dir)
	for _, want := range []string{`imports "os"`, `imports "math/rand"`, "floating-point type float64", "floating-point literal 1.5", "calls clock.Now", "go statement"} {
		found := false
		for _, v := range got {
			if strings.Contains(v, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("violation %q not reported; got %q", want, got)
		}
	}
	if len(got) != 6 {
		t.Errorf("got %d violations, want 6: %q", len(got), got)
	}
}
