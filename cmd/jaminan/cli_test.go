package main

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jaminan/jaminan/keyfile"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/rules"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageAndUnknown(t *testing.T) {
	if code, _, stderr := runCLI(t); code != 2 || !strings.Contains(stderr, "verify") {
		t.Fatalf("no args: %d %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "frobnicate"); code != 2 || !strings.Contains(stderr, "unknown command") {
		t.Fatalf("unknown: %d %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "keygen", "--no-such-flag"); code != 2 {
		t.Fatalf("bad flag: exit %d", code)
	}
}

// founding creates three ministry keys and one bureau key of province 44 with keygen, and a
// genesis with the genesis command.
func founding(t *testing.T, dir string) (ministry []*ledger.Signer, bureau *ledger.Signer, g *ledger.Genesis, genesisPath string) {
	t.Helper()
	args := []string{"genesis", "--network", "jaminan-clitest", "--time", "2023-03-01T00:00:00+08:00"}
	for i, role := range []string{"ministry", "ministry", "ministry", "bureau"} {
		p := filepath.Join(dir, role+string(rune('a'+i))+".key")
		code, stdout, stderr := runCLI(t, "keygen", "--out", p)
		if code != 0 {
			t.Fatalf("keygen: %d %s", code, stderr)
		}
		s, err := keyfile.Read(p)
		if err != nil || strings.TrimSpace(stdout) != s.ID().String() {
			t.Fatalf("keygen printed %q for %v (%v)", stdout, s.ID(), err)
		}
		region := ""
		if role == "bureau" {
			region, bureau = "44", s
		} else {
			ministry = append(ministry, s)
		}
		args = append(args, "--member", role+","+region+","+role+" "+string(rune('a'+i))+","+s.ID().String())
	}
	genesisPath = filepath.Join(dir, "genesis.json")
	args = append(args, "--out", genesisPath)
	if code, stdout, stderr := runCLI(t, args...); code != 0 || !strings.Contains(stdout, "4 members") {
		t.Fatalf("genesis: %d %s %s", code, stdout, stderr)
	}
	b, _ := os.ReadFile(genesisPath)
	g, err := ledger.ParseGenesisJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	return ministry, bureau, g, genesisPath
}

func TestKeygenRefusesOverwrite(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k")
	if code, _, _ := runCLI(t, "keygen", "--out", p); code != 0 {
		t.Fatal("first keygen failed")
	}
	if code, _, stderr := runCLI(t, "keygen", "--out", p); code != 1 || !strings.Contains(stderr, "exists") {
		t.Fatalf("second keygen: %d %s", code, stderr)
	}
	if code, _, _ := runCLI(t, "keygen", "--pepper", "--out", p+".pepper"); code != 0 {
		t.Fatal("pepper")
	}
	if _, err := keyfile.ReadPepper(p + ".pepper"); err != nil {
		t.Fatal(err)
	}
}

func TestGenesisRejectsBadMembers(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runCLI(t, "genesis", "--network", "n", "--member", "ministry,,x", "--out", filepath.Join(dir, "g")); code != 2 {
		t.Fatalf("short member: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "genesis", "--network", "n", "--member", "ministry,,x,notapeer", "--out", filepath.Join(dir, "g")); code != 2 || !strings.Contains(stderr, "notapeer") {
		t.Fatalf("bad peer id: %d %s", code, stderr)
	}
	s := ledger.SignerFromSeed(bytes.Repeat([]byte{1}, 32))
	// A network without a ministry fails validation.
	if code, _, stderr := runCLI(t, "genesis", "--network", "n", "--member", "bureau,44,b,"+s.ID().String(), "--out", filepath.Join(dir, "g")); code != 1 {
		t.Fatalf("no ministry: %d %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "g")); err == nil {
		t.Fatal("an invalid genesis was written")
	}
}

// statement builds a one-contribution history and returns a statement and a record proof.
func statement(t *testing.T, ministry []*ledger.Signer, bureau *ledger.Signer, g *ledger.Genesis) (*ledger.Statement, *ledger.RecordProof) {
	t.Helper()
	w := ledger.Pseudonym([]byte("pepper"), "11010519491231002X")
	p, _ := civil.PeriodFromInt(202302)
	avg, _ := ledger.NewParams(g.Params).Get(ledger.ParamAvgWage, "44", p.FirstDay())
	lim, err := rules.Limits(avg, 60, 300)
	if err != nil {
		t.Fatal(err)
	}
	base := rules.Base(800000, lim)
	ee, _ := rules.Share(base, 800)
	er, _ := rules.Share(base, 1600)
	c := &ledger.Contribution{Worker: w, Hukou: "51", Birth: 19491231, Sex: ledger.SexFemale, Employer: "91440300123456788M", Region: "440300",
		Period: 202302, Scheme: ledger.SchemePension, Wage: 800000, Base: base, EmployeeAmount: ee, EmployerAmount: er}
	rec := ledger.NewRecord(bureau.ID(), g.Time+1, c)
	blk, err := ledger.BuildBlock(bureau, g.Network, nil, g.Time+2, [][]byte{rec.Encode()})
	if err != nil {
		t.Fatal(err)
	}
	st := ledger.NewMemState()
	st.Commit(ledger.GenesisWrites(g))
	cb := ledger.NewCheckpoint(g.Network, 1, g.Hash(), g.Time+3, []ledger.Hash{blk.Hash()})
	res, err := ledger.NewMachine(g).Apply(st, &cb, []*ledger.Block{blk})
	if err != nil {
		t.Fatal(err)
	}
	if res.Receipts[0].Code != ledger.CodeOK {
		t.Fatalf("receipt %+v", res.Receipts[0])
	}
	var votes []ledger.Vote
	for _, s := range ministry {
		votes = append(votes, ledger.SignVote(s, g.Network, 1, res.Checkpoint, res.StateRoot))
	}
	proof, err := ledger.BuildRecordProof(blk, 0, &cb, res, ledger.Certify(1, res.Checkpoint, res.StateRoot, votes))
	if err != nil {
		t.Fatal(err)
	}
	return &ledger.Statement{Network: g.Network, Worker: w, Proofs: []ledger.RecordProof{*proof}}, proof
}

func TestVerifyStatementAndProof(t *testing.T) {
	dir := t.TempDir()
	ministry, bureau, g, gp := founding(t, dir)
	st, proof := statement(t, ministry, bureau, g)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	raw := st.Encode()
	for name, file := range map[string]string{
		"cbor": write("st.cbor", raw),
		"hex":  write("st.hex", []byte(hex.EncodeToString(raw)+"\n")),
	} {
		code, stdout, stderr := runCLI(t, "verify", "--genesis", gp, file)
		if code != 0 || !strings.Contains(stdout, "VALID statement") || !strings.Contains(stdout, "province 44") {
			t.Fatalf("%s: %d %q %q", name, code, stdout, stderr)
		}
	}
	if code, stdout, stderr := runCLI(t, "verify", "--genesis", gp, "--json", write("p.cbor", proof.Encode())); code != 0 || !strings.Contains(stdout, `"valid":true`) || !strings.Contains(stdout, `"code":"ok"`) {
		t.Fatalf("proof: %d %q %q", code, stdout, stderr)
	}

	// A changed byte anywhere in the signed content fails; so do garbage and another network.
	for i := 0; i < len(raw); i += 7 {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x01
		code, stdout, _ := runCLI(t, "verify", "--genesis", gp, write("bad", bad))
		if code == 0 {
			t.Fatalf("byte %d flipped: verified %q", i, stdout)
		}
	}
	if code, _, stderr := runCLI(t, "verify", "--genesis", gp, write("garbage", []byte("hello"))); code != 1 || !strings.Contains(stderr, "neither") {
		t.Fatalf("garbage: %d %s", code, stderr)
	}
	other := filepath.Join(t.TempDir(), "other")
	os.Mkdir(other, 0o755)
	_, _, _, gp2 := founding(t, other)
	if code, _, _ := runCLI(t, "verify", "--genesis", gp2, write("st2.cbor", raw)); code != 1 {
		t.Fatal("verified against another network's genesis")
	}
	if code, _, _ := runCLI(t, "verify", "--genesis", filepath.Join(dir, "missing.json"), write("st3.cbor", raw)); code != 1 {
		t.Fatal("verified without a genesis")
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	_, _, _, gp := founding(t, dir)
	good := `{"type":"contribution","worker_id":"440305199003071236","hukou":"44","employer":"91440300123456788M","region":"440300","period":"2023-02","scheme":"pension","wage":800000}` + "\n"
	p := filepath.Join(dir, "ok.jsonl")
	os.WriteFile(p, []byte(good), 0o644)
	if code, stdout, stderr := runCLI(t, "validate", "--genesis", gp, "--today", "2023-03-15", p); code != 0 || !strings.Contains(stdout, "1 valid, 0 invalid") {
		t.Fatalf("good file: %d %q %q", code, stdout, stderr)
	}
	csv := "type,worker_id,hukou,employer,region,period,scheme,wage\ncontribution,440305199003071236,44,91440300123456788M,440300,2023-02,pension,800000\ncontribution,110105194912310021,44,91440300123456788M,440300,2023-02,pension,800000\n"
	p2 := filepath.Join(dir, "mixed.csv")
	os.WriteFile(p2, []byte(csv), 0o644)
	code, stdout, _ := runCLI(t, "validate", "--genesis", gp, "--today", "2023-03-15", p2)
	if code != 1 || !strings.Contains(stdout, "mixed.csv:3: I1") || !strings.Contains(stdout, "1 valid, 1 invalid") {
		t.Fatalf("mixed file: %d %q", code, stdout)
	}
}

func TestAdminUsage(t *testing.T) {
	for _, args := range [][]string{{"admin"}, {"admin", "add-voter"}, {"admin", "promote", "x"}, {"admin", "transfer-leadership", "a", "b"}} {
		if code, _, stderr := runCLI(t, args...); code != 2 || !strings.Contains(stderr, "usage: jaminan admin") {
			t.Errorf("%v: exit %d %q", args, code, stderr)
		}
	}
	// A node that is not there: a clear error, exit 1.
	if code, _, stderr := runCLI(t, "admin", "--node", "http://127.0.0.1:1", "--token", "x", "transfer-leadership"); code != 1 || !strings.Contains(stderr, "transfer-leadership") {
		t.Errorf("unreachable node: exit %d %q", code, stderr)
	}
}
