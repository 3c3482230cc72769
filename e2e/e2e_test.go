// Package e2e tests the built binary end to end (issue 6, acceptance 2): keys and genesis made
// by `jaminan keygen` and `jaminan genesis`, one `jaminan node` process per node (3 ministry,
// bureaus 44 and 51), and the API and `jaminan query`/`verify` as an operator, an employer and
// the public meet them.
package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jaminan/jaminan/intake"
	"github.com/jaminan/jaminan/keyfile"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/node/client"
	"github.com/jaminan/jaminan/node/devnet"
	"github.com/jaminan/jaminan/workload"
)

type proc struct {
	name, http, token string
	cmd               *exec.Cmd
	log               string
}

func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("jaminan %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// usedPorts are the ports freePort handed out.
var usedPorts = map[int]bool{}

func freePort(t *testing.T) int {
	port, err := devnet.FreePort(usedPorts)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// binDir holds the binary the tests build once (binary); TestMain removes it.
var (
	binDir   string
	binOnce  sync.Once
	binErr   error
	binBuilt string
)

// binary returns the path of the jaminan binary, built on first use.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "jaminan-e2e-"); binErr != nil {
			return
		}
		binBuilt = filepath.Join(binDir, "jaminan")
		build := exec.Command("go", "build", "-o", binBuilt, "github.com/jaminan/jaminan/cmd/jaminan")
		if out, err := build.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binBuilt
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func wait(t *testing.T, what string, within time.Duration, f func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		ok, err := f()
		if ok {
			return
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v (last error: %v)", what, within, last)
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs five node processes")
	}
	dir := t.TempDir()
	bin := binary(t)

	// A worker of Guangdong with a year of contributions, and the employer.
	gen := workload.New(11, regionsOf("44"), 20, civil.MustPeriod(2025, 1))
	var worker workload.Worker
	for _, w := range gen.Workers() {
		if !w.Flexible && w.Employer != "" {
			worker = w
			break
		}
	}
	if worker.ID == "" {
		t.Fatal("no employee in the synthetic population")
	}
	var contribs, jobs []intake.Input // the worker's contributions, and employment records
	for gen.Month().Int() <= civil.MustPeriod(2025, 12).Int() {
		for _, in := range gen.Next() {
			switch {
			case in.WorkerID != worker.ID:
			case in.Type == "contribution":
				contribs = append(contribs, in)
			default:
				jobs = append(jobs, in)
			}
		}
	}

	// Founding: keys, pepper, genesis — with the binary.
	names := []string{"ministry-1", "ministry-2", "ministry-3", "bureau-44", "bureau-51"}
	ids := map[string]string{}
	for _, n := range append(names, "employer") {
		ids[n] = run(t, bin, "keygen", "--out", filepath.Join(dir, n+".key"))
	}
	run(t, bin, "keygen", "--pepper", "--out", filepath.Join(dir, "network.pepper"))
	genesisPath := filepath.Join(dir, "genesis.json")
	gargs := []string{"genesis", "--network", "jaminan-e2e", "--out", genesisPath,
		"--member", "employer,44," + worker.Employer + "," + ids["employer"]}
	for _, n := range names {
		role, region := "ministry", ""
		if strings.HasPrefix(n, "bureau") {
			role, region = "bureau", n[len(n)-2:]
		}
		gargs = append(gargs, "--member", fmt.Sprintf("%s,%s,%s,%s", role, region, n, ids[n]))
	}
	run(t, bin, gargs...)

	// One process per node.
	p2pPorts := map[string]int{}
	for _, n := range names {
		p2pPorts[n] = freePort(t)
	}
	procs := map[string]*proc{}
	for _, n := range names {
		p := &proc{name: n, http: fmt.Sprintf("127.0.0.1:%d", freePort(t)), log: filepath.Join(dir, n+".log")}
		var peers []string
		for _, o := range names {
			if o != n {
				peers = append(peers, fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", p2pPorts[o], ids[o]))
			}
		}
		cfg := map[string]any{"data_dir": n, "key": n + ".key", "genesis": "genesis.json", "pepper": "network.pepper",
			"http": p.http, "listen": []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", p2pPorts[n])}, "peers": peers,
			"log_level": "warn", "block_interval": "100ms", "checkpoint_interval": "100ms", "sync_interval": "2s", "raft_timings": "fast"}
		raw, _ := json.MarshalIndent(cfg, "", "  ")
		cfgPath := filepath.Join(dir, n+".json")
		if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		logf, err := os.Create(p.log)
		if err != nil {
			t.Fatal(err)
		}
		p.cmd = exec.Command(bin, "node", "--config", cfgPath)
		p.cmd.Stdout, p.cmd.Stderr = logf, logf
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[n] = p
		t.Cleanup(func() {
			_ = p.cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { _ = p.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = p.cmd.Process.Kill()
				<-done
			}
			logf.Close()
			if t.Failed() {
				raw, _ := os.ReadFile(p.log)
				if len(raw) > 4000 {
					raw = raw[len(raw)-4000:]
				}
				t.Logf("--- %s log (tail) ---\n%s", n, raw)
			}
		})
	}
	for _, n := range names {
		p := procs[n]
		wait(t, n+" operator token", 30*time.Second, func() (bool, error) {
			raw, err := os.ReadFile(filepath.Join(dir, n, "operator.token"))
			p.token = strings.TrimSpace(string(raw))
			return err == nil && p.token != "", err
		})
		wait(t, n+" ready", 60*time.Second, func() (bool, error) {
			s, err := client.New("http://"+p.http, "").Status(context.Background())
			return err == nil && s.Peers >= 2, err
		})
	}
	ctx := context.Background()
	op := func(n string) *client.Client { return client.New("http://"+procs[n].http, procs[n].token) }
	final := func(n, id string) func() (bool, error) {
		return func() (bool, error) {
			st, err := op(n).Record(ctx, id)
			return err == nil && st.Status == "final", err
		}
	}

	// 1. A contribution submitted at bureau 44 is final and queryable at bureau 51, with a proof
	// that `jaminan verify` accepts offline.
	started := time.Now()
	if jres, err := op("bureau-44").Submit(ctx, jobs); err != nil || len(jres.Accepted) != len(jobs) {
		t.Fatalf("submit employment: %v %+v", err, jres.Rejected)
	}
	res, err := op("bureau-44").Submit(ctx, contribs)
	if err != nil || len(res.Accepted) != len(contribs) {
		t.Fatalf("submit contributions: %v %+v", err, res.Rejected)
	}
	first := res.Accepted[0].ID
	for _, a := range res.Accepted {
		wait(t, "contribution final at bureau 44", 60*time.Second, final("bureau-44", a.ID))
	}
	wait(t, "contribution final at bureau 51", 30*time.Second, final("bureau-51", first))
	t.Logf("%d contributions final at both bureaus %v after submission", len(contribs), time.Since(started).Round(time.Millisecond))
	proofPath := filepath.Join(dir, "proof.b64")
	run(t, bin, "query", "--node", "http://"+procs["bureau-51"].http, "--token", procs["bureau-51"].token, "--out", proofPath, "proof", first)
	if out := run(t, bin, "verify", "--genesis", genesisPath, proofPath); out == "" {
		t.Error("verify printed nothing")
	}
	raw, _ := os.ReadFile(proofPath)
	bad, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	bad[len(bad)/2] ^= 1
	os.WriteFile(proofPath, []byte(base64.StdEncoding.EncodeToString(bad)), 0o600)
	if err := exec.Command(bin, "verify", "--genesis", genesisPath, proofPath).Run(); err == nil {
		t.Error("verify accepted a damaged proof")
	}

	// 2. An employer without consent gets 403; with consent it sees the history, and the read
	// is logged as an access record.
	var acct struct {
		Worker  string `json:"worker"`
		Regions []struct {
			Region string `json:"region"`
			Scheme string `json:"scheme"`
			IA     int64  `json:"individual_balance"`
			Pooled int64  `json:"pooled_transferable"`
			Status string `json:"status"`
			Months uint32 `json:"months"`
		} `json:"regions"`
	}
	if err := op("bureau-44").Get(ctx, "/v1/workers/"+worker.ID+"/account", &acct); err != nil {
		t.Fatal(err)
	}
	employerKey, err := keyfile.Read(filepath.Join(dir, "employer.key"))
	if err != nil {
		t.Fatal(err)
	}
	employer := &client.Client{Base: "http://" + procs["bureau-44"].http, Signer: employerKey}
	if err := employer.Get(ctx, "/v1/workers/"+acct.Worker+"/statement", nil); client.StatusOf(err) != 403 {
		t.Fatalf("employer without consent: %v, want 403", err)
	}
	if err := op("bureau-44").Post(ctx, "/v1/workers/"+worker.ID+"/consents", map[string]string{"grantee": worker.Employer, "scope": "history"}, nil); err != nil {
		t.Fatalf("grant consent: %v", err)
	}
	var stmt struct {
		Records int    `json:"records"`
		Encoded string `json:"encoded"`
	}
	wait(t, "employer reads the history with consent", 30*time.Second, func() (bool, error) {
		err := employer.Get(ctx, "/v1/workers/"+acct.Worker+"/statement", &stmt)
		return err == nil, err
	})
	if stmt.Records < len(contribs) {
		t.Errorf("employer's statement holds %d records, want at least %d", stmt.Records, len(contribs))
	}
	wait(t, "the employer's read is in the access log", 30*time.Second, func() (bool, error) {
		raw, err := op("bureau-44").DoRaw(ctx, "GET", "/v1/workers/"+acct.Worker+"/access", "", nil)
		return err == nil && bytes.Contains(raw, []byte(employerKey.ID().String())), err
	})

	// 3. A correction keeps the original visible in the history.
	repl := contribs[0]
	wage := *repl.Wage + 10000
	repl.Wage = &wage
	corr := intake.Input{Type: "correction", Target: first, Reason: ledger.ReasonWrongAmount, Record: &repl}
	cres, err := op("bureau-44").Submit(ctx, []intake.Input{corr})
	if err != nil || len(cres.Accepted) != 1 {
		t.Fatalf("submit correction: %v %+v", err, cres.Rejected)
	}
	wait(t, "correction final", 30*time.Second, final("bureau-44", cres.Accepted[0].ID))
	if st, err := op("bureau-44").Record(ctx, cres.Accepted[0].ID); err != nil || st.Receipt == nil || st.Receipt.Code != ledger.CodeOK {
		t.Fatalf("correction receipt: %+v %v", st, err)
	}
	if st, err := op("bureau-44").Record(ctx, first); err != nil || st.Status != "final" {
		t.Fatalf("original after correction: %+v %v", st, err)
	}
	if err := op("bureau-44").Get(ctx, "/v1/workers/"+worker.ID+"/statement", &stmt); err != nil {
		t.Fatal(err)
	}
	if !statementHas(t, stmt.Encoded, first) {
		t.Error("the corrected original is not in the worker's statement any more")
	}

	// 4. A transfer 44→51 passes through every stage with the amounts of DOMAIN.md T1, and
	// conserves money.
	if err := op("bureau-44").Get(ctx, "/v1/workers/"+worker.ID+"/account", &acct); err != nil {
		t.Fatal(err)
	}
	var before struct{ ia, pooled int64 }
	for _, r := range acct.Regions {
		if r.Region == "44" && r.Scheme == "pension" {
			before.ia, before.pooled = r.IA, r.Pooled
		}
	}
	caseID, err := op("bureau-51").ApplyTransfer(ctx, worker.ID, "44", "51")
	if err != nil {
		t.Fatalf("apply for the transfer at bureau 51: %v", err)
	}
	var tr struct {
		Stage  string `json:"stage"`
		Amount struct {
			Individual, Pooled, Total int64
		} `json:"amount"`
		Stages []struct {
			Stage string `json:"stage"`
		} `json:"stages"`
	}
	public := client.New("http://"+procs["bureau-44"].http, "")
	wait(t, "transfer completed", 90*time.Second, func() (bool, error) {
		err := public.Get(ctx, "/v1/transfers/"+caseID, &tr)
		return err == nil && tr.Stage == "completed", err
	})
	var stages []string
	for _, s := range tr.Stages {
		stages = append(stages, s.Stage)
	}
	if strings.Join(stages, ",") != "applied,letter_sent,out_processed,completed" {
		t.Errorf("stages %v", stages)
	}
	// T1: PF = 12% × Σ base, rounded once half-up; the IA moves whole.
	var sumBase int64
	for _, in := range contribs {
		if in.Scheme == "pension" {
			sumBase += *in.Wage // wages of this population lie inside the base limits
		}
	}
	if in := corr.Record; in.Scheme == "pension" {
		sumBase += *in.Wage - *contribs[0].Wage
	}
	if want := (sumBase*12 + 50) / 100; tr.Amount.Pooled != want || tr.Amount.Pooled != before.pooled {
		t.Errorf("pooled part %d, want 12%% of %d = %d (account said %d)", tr.Amount.Pooled, sumBase, want, before.pooled)
	}
	if tr.Amount.Individual != before.ia || tr.Amount.Total != tr.Amount.Individual+tr.Amount.Pooled {
		t.Errorf("amounts %+v, account before %+v", tr.Amount, before)
	}
	wait(t, "the account at the new place", 30*time.Second, func() (bool, error) {
		if err := op("bureau-51").Get(ctx, "/v1/workers/"+worker.ID+"/account", &acct); err != nil {
			return false, err
		}
		var at51, at44 int64 = -1, -1
		for _, r := range acct.Regions {
			if r.Scheme != "pension" {
				continue
			}
			switch r.Region {
			case "51":
				at51 = r.IA
			case "44":
				at44 = r.IA
			}
		}
		return at51 == tr.Amount.Individual && at44 <= 0, fmt.Errorf("pension IA at 51 %d, at 44 %d; transferred %d", at51, at44, tr.Amount.Individual)
	})
	t.Logf("end to end in %v", time.Since(started).Round(time.Millisecond))
}

func regionsOf(prov string) []workload.Region {
	var out []workload.Region
	for _, r := range workload.DefaultRegions() {
		if r.Province == prov {
			out = append(out, r)
		}
	}
	return out
}

func statementHas(t *testing.T, encoded, id string) bool {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		t.Fatalf("statement encoding: %v", err)
	}
	st, err := ledger.DecodeStatement(raw)
	if err != nil {
		t.Fatalf("decode statement: %v", err)
	}
	for _, r := range st.Proofs {
		if rr, _, err := ledger.DecodeRecord(r.Record); err == nil && rr.ID().String() == id {
			return true
		}
	}
	return false
}
