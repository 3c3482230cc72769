package node

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jaminan/jaminan/node/client"
)

// TestFullDiskRefusesAndRecovers: a bureau whose data directory's file system fills up to the
// last byte answers new records with 507, keeps running (it used to die of SIGBUS in badger's
// memory-mapped files), lags meanwhile, and once space is freed takes records again and
// applies everything. It needs a tmpfs of its own, so root.
func TestFullDiskRefusesAndRecovers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	tn := newTestNet(t, "ministry-1", "bureau-44")
	fs := filepath.Join(tn.dir, "fs")
	if err := os.MkdirAll(fs, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=640m", "tmpfs", fs).CombinedOutput(); err != nil {
		t.Skipf("mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", fs).Run() })
	cfg := tn.cfgs["bureau-44"]
	cfg.DataDir = filepath.Join(fs, "bureau-44")
	tn.cfgs["bureau-44"] = cfg

	tn.start("ministry-1")
	b := tn.start("bureau-44")
	c := c2(b)
	ctx := context.Background()
	gen := contributions(200, "44")
	submit := func() ([]string, error) {
		res, err := c.Submit(ctx, gen.Next())
		var ids []string
		for _, a := range res.Accepted {
			ids = append(ids, a.ID)
		}
		return ids, err
	}
	ids, err := submit()
	if err != nil || len(ids) == 0 {
		t.Fatalf("submit before the disk is full: %v", err)
	}
	waitFinal(t, b, ids, 30*time.Second)

	// Fill the file system to the last byte.
	filler := filepath.Join(fs, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for range 1 << 10 {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	for range 1 << 8 {
		if _, err := f.Write(buf[:4096]); err != nil {
			break
		}
	}
	f.Close()

	_, err = submit()
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusInsufficientStorage || ae.Code != "insufficient_storage" {
		t.Fatalf("submit to a full bureau: %v, want 507 insufficient_storage", err)
	}
	if got := testutil.ToFloat64(b.metrics.refused.WithLabelValues("disk_full")); got == 0 {
		t.Error("the refusal is not counted in jaminan_node_records_refused_total{reason=\"disk_full\"}")
	}
	if free, err := b.disk.free(); err != nil || free >= b.disk.min {
		t.Errorf("free space %d (%v) on the full file system, floor %d", free, err, b.disk.min)
	}
	// The bureau stays up (a SIGBUS would end the test binary here).
	time.Sleep(2 * time.Second)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	var after []string
	for i := 0; ; i++ {
		after, err = submit()
		if err == nil && len(after) > 0 {
			break
		}
		if i == 100 {
			t.Fatalf("the bureau did not take records again after space was freed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitFinal(t, b, append(ids, after...), 60*time.Second)
}
