package node

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigsDirectory parses and validates every configuration example in configs/ (issue 6,
// acceptance 4), so that an example can never rot.
func TestConfigsDirectory(t *testing.T) {
	files, err := filepath.Glob("../configs/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("configs/ holds %d JSON configurations, want the devnet, bureau and ministry examples", len(files))
	}
	for _, f := range files {
		cfg, err := LoadConfig(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	unit, err := os.ReadFile("../configs/jaminan.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[Service]", "ExecStart=/usr/local/bin/jaminan node --config ", "[Install]"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("jaminan.service lacks %q", want)
		}
	}
}

func TestValidateNamesEveryBadField(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HTTP = "localhost"
	cfg.Listen = []string{"not-a-multiaddr"}
	cfg.Peers = []string{"/ip4/127.0.0.1/tcp/1"}
	cfg.LogLevel = "loud"
	cfg.BlockInterval = Duration{time.Nanosecond}
	cfg.BlockRecords = 0
	cfg.CheckpointInterval = Duration{time.Hour}
	cfg.SyncInterval = Duration{0}
	cfg.RaftTimings = "slow"
	cfg.ShutdownTimeout = Duration{0}
	cfg.MaxPendingWait = Duration{time.Millisecond}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, field := range []string{"data_dir", "key", "genesis", "pepper", "http", "listen", "peers", "log_level",
		"block_interval", "block_records", "checkpoint_interval", "sync_interval", "raft_timings", "shutdown_timeout", "max_pending_wait"} {
		if !strings.Contains(err.Error(), field+":") {
			t.Errorf("error does not name %s:\n%v", field, err)
		}
	}
}

// TestFileThenEnvThenFlags checks the order of precedence and that relative paths in a file
// are taken from the file's directory.
func TestFileThenEnvThenFlags(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.json")
	if err := os.WriteFile(path, []byte(`{"data_dir":"data","key":"k","genesis":"g","pepper":"p","http":"127.0.0.1:1","block_records":10}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != filepath.Join(dir, "data") || cfg.BlockRecords != 10 || cfg.BlockInterval.Duration != 200*time.Millisecond {
		t.Fatalf("file: %+v", cfg)
	}
	env := map[string]string{"JAMINAN_HTTP": "127.0.0.1:2", "JAMINAN_BLOCK_RECORDS": "20", "JAMINAN_PEERS": "/ip4/1.2.3.4/tcp/1/p2p/12D3KooWGThfde9k4GY1V8eGNcAZRajLxDVcJB63u5aJwCP8Ude3"}
	if err := cfg.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	apply := BindFlags(fs)
	if err := fs.Parse([]string{"--block-records", "30", "--block-interval", "1s"}); err != nil {
		t.Fatal(err)
	}
	if err := apply(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP != "127.0.0.1:2" || cfg.BlockRecords != 30 || cfg.BlockInterval.Duration != time.Second || len(cfg.Peers) != 1 {
		t.Fatalf("after env and flags: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{"JAMINAN_BLOCK_RECORDS": "many", "JAMINAN_SYNC_INTERVAL": "soon"}
	err = cfg.ApplyEnv(func(k string) (string, bool) { v, ok := bad[k]; return v, ok })
	if err == nil || !strings.Contains(err.Error(), "JAMINAN_BLOCK_RECORDS") || !strings.Contains(err.Error(), "JAMINAN_SYNC_INTERVAL") {
		t.Fatalf("bad environment: %v", err)
	}
	if _, err := LoadConfig(writeFile(t, dir, "x.json", `{"data_dirr":"x"}`)); err == nil {
		t.Fatal("unknown field accepted")
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
