package devnet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/jaminan/jaminan/keyfile"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/node/client"
	"github.com/jaminan/jaminan/workload"
)

// TestRevokeMinistryMember: the ministry revokes one of its members through a governance record
// signed by two of three keys and carried by a bureau; the network goes on making checkpoints
// final, and a worker's statement made afterwards carries the proof of the revocation and
// verifies offline.
func TestRevokeMinistryMember(t *testing.T) {
	d := startDevnet(t)
	key := func(name string) *ledger.Signer {
		s, err := keyfile.Read(filepath.Join(d.Dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	m1, m2, m3 := key("ministry-1"), key("ministry-2"), key("ministry-3")
	e, _, _ := d.Bureau("44")
	cl := client.New(e.HTTP, e.Token)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	final := func(id ledger.Hash) {
		t.Helper()
		var st struct {
			Status  string `json:"status"`
			Receipt *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"receipt"`
		}
		waitFor(t, 60*time.Second, "record "+id.String()[:12]+" final", func() bool {
			_ = cl.Get(ctx, "/v1/records/"+id.String(), &st)
			return st.Status == "final" || st.Status == "rejected"
		})
		if st.Status != "final" || st.Receipt.Code != ledger.CodeOK {
			t.Fatalf("record %s: %s %+v", id, st.Status, st.Receipt)
		}
	}

	revoke := ledger.NewRecord(m1.ID(), uint64(time.Now().UnixMilli()), &ledger.GovRevoke{Member: m3.ID(), Reason: "key compromised"})
	revoke.Sign(d.Genesis.Network, m1)
	revoke.Sign(d.Genesis.Network, m2)
	var sub struct {
		Accepted []struct {
			ID ledger.Hash `json:"id"`
		} `json:"accepted"`
	}
	if err := cl.Do(ctx, "POST", "/v1/records", "application/cbor", revoke.Encode(), &sub); err != nil || len(sub.Accepted) != 1 {
		t.Fatalf("submit the revocation: %v %+v", err, sub)
	}
	final(revoke.ID())

	// A contribution after the revocation, final: ordering and finality went on without m3.
	in := workload.New(7, workload.DefaultRegions()[:1], 1, civil.MustPeriod(2025, 3)).Next()[0]
	body, _ := json.Marshal(map[string]any{"records": []any{in}})
	if err := cl.Do(ctx, "POST", "/v1/records", "application/json", body, &sub); err != nil || len(sub.Accepted) != 1 {
		t.Fatalf("submit a contribution: %v %+v", err, sub)
	}
	final(sub.Accepted[0].ID)

	var out struct {
		Encoded string `json:"encoded"`
	}
	if err := cl.Get(ctx, "/v1/workers/"+in.WorkerID+"/statement", &out); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(out.Encoded)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ledger.DecodeStatement(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Ministry) != 1 {
		t.Fatalf("the statement carries %d ministry changes, want the revocation", len(st.Ministry))
	}
	if rec, _, err := ledger.DecodeRecord(st.Ministry[0].Record); err != nil || rec.ID() != revoke.ID() {
		t.Fatalf("the ministry change is not the revocation: %v", err)
	}
	if _, err := st.Verify(d.Genesis); err != nil {
		t.Fatalf("the statement does not verify offline: %v", err)
	}
	// The contribution's proof, alone, carries the revocation and verifies offline.
	var pj struct {
		Encoded string `json:"encoded"`
	}
	if err := cl.Get(ctx, "/v1/records/"+sub.Accepted[0].ID.String()+"/proof", &pj); err != nil {
		t.Fatal(err)
	}
	if raw, err = base64.StdEncoding.DecodeString(pj.Encoded); err != nil {
		t.Fatal(err)
	}
	p, err := ledger.DecodeRecordProof(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Verify(d.Genesis); err != nil || len(p.Ministry) != 1 {
		t.Fatalf("the contribution's proof: %d ministry changes, %v", len(p.Ministry), err)
	}
}
