package node

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Duration is a time.Duration written as text in configuration files ("250ms", "2s").
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Config configures one node. It is read from a JSON file (LoadConfig), then the environment
// (JAMINAN_* variables, ApplyEnv), then command-line flags (BindFlags), each overriding the one
// before. Relative paths in a file are relative to the file's directory. docs/OPERATING.md lists
// every field.
type Config struct {
	// DataDir holds the node's databases: ledger (badger), outbox, produced blocks, raft.
	DataDir string `json:"data_dir"`
	// Key is the node's key file (jaminan keygen); its peer ID must be a bureau or ministry
	// member of the genesis.
	Key string `json:"key"`
	// Genesis is the network's genesis file (jaminan genesis).
	Genesis string `json:"genesis"`
	// Pepper is the network pepper file (jaminan keygen --pepper).
	Pepper string `json:"pepper"`
	// TokenFile holds the operator token; created (0600) at the first start if missing.
	// Default: DataDir/operator.token.
	TokenFile string `json:"token_file,omitempty"`
	// HTTP is the API's listen address; the operator API belongs on loopback.
	HTTP string `json:"http"`
	// Listen are the libp2p listen multiaddrs (TCP and/or QUIC).
	Listen []string `json:"listen"`
	// Peers are the other nodes' multiaddrs, each ending in /p2p/<peer ID>; they are kept
	// connected. Every ministry node must list the other ministry nodes.
	Peers []string `json:"peers"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `json:"log_level,omitempty"`
	// BlockInterval is how long the producer waits before cutting a block that is not full.
	BlockInterval Duration `json:"block_interval,omitempty"`
	// BlockRecords is the number of records at which a block is cut at once.
	BlockRecords int `json:"block_records,omitempty"`
	// CheckpointInterval is how old the oldest unordered block may get before the ministry
	// leader cuts a checkpoint (ministry nodes).
	CheckpointInterval Duration `json:"checkpoint_interval,omitempty"`
	// SyncInterval is the period of the full sync round with every peer.
	SyncInterval Duration `json:"sync_interval,omitempty"`
	// RaftTimings is "default" (WAN-safe: 500 ms heartbeats) or "fast" (loopback tests).
	RaftTimings string `json:"raft_timings,omitempty"`
	// ClockOffset is added to the system clock wherever the node reads the time (block,
	// checkpoint and record stamps, signature windows, consent dates). Zero in production; the
	// torture suite sets it to run a node with a skewed clock.
	ClockOffset Duration `json:"clock_offset,omitempty"`
	// MinFreeDiskMiB is the free space, in MiB, below which the node stops writing to its
	// data directory's file system: it answers new records with 507 and retries applying
	// checkpoints until space returns (docs/OPERATING.md, "Disk space"). 0 turns the guard off.
	MinFreeDiskMiB int `json:"min_free_disk_mib,omitempty"`
	// MaxPendingRecords bounds the records a bureau has acknowledged that are not yet in an
	// applied checkpoint: beyond it, new records get 503 until the network catches up
	// (back-pressure; docs/OPERATING.md, "Back-pressure").
	MaxPendingRecords int `json:"max_pending_records,omitempty"`
	// MaxPendingWait bounds how long a record a bureau acknowledges can expect to wait before
	// it is final: the records pending over the rate at which the network applied this
	// bureau's records in the last minute. Beyond it new records get 503, as beyond
	// max_pending_records (docs/OPERATING.md, "Back-pressure"). 0 turns it off.
	MaxPendingWait Duration `json:"max_pending_wait,omitempty"`
	// ShutdownTimeout bounds `jaminan node`'s stop after SIGTERM or SIGINT: the orderly close
	// gets this long, and a process whose close is still stuck a few seconds later (a store
	// that cannot write its last tables to a full or vanished disk) exits without it. What was
	// acknowledged is on disk either way (docs/OPERATING.md, "Stopping a node").
	ShutdownTimeout Duration `json:"shutdown_timeout,omitempty"`
	// SnapshotInterval makes a ministry node export the state every this many applied
	// checkpoints to DataDir/snapshots and sign a snapshot attestation of it, which the
	// ministry aggregates and every ministry node serves to nodes that join (0: off;
	// docs/OPERATING.md, "Snapshots and fast join"). Bureaus ignore it.
	SnapshotInterval uint64 `json:"snapshot_interval"`
	// FastJoin lets a bureau that starts with an empty store join from the latest attested
	// snapshot instead of replaying the whole history, when its peers are more than
	// FastJoinLag final checkpoints ahead. Its history then starts at the snapshot.
	FastJoin bool `json:"fast_join"`
	// FastJoinLag is the lag, in final checkpoints, above which an empty bureau joins from a
	// snapshot (FastJoin).
	FastJoinLag uint64 `json:"fast_join_lag,omitempty"`
}

// DefaultSnapshotInterval is the default snapshot_interval: at the national peak of about 60
// checkpoints a minute, a snapshot every quarter of an hour or so.
const DefaultSnapshotInterval = 1000

// DefaultFastJoinLag is the default fast_join_lag.
const DefaultFastJoinLag = 100

// DefaultMinFreeDiskMiB covers what the store may still write once it has been let write: a new
// memtable log (2 × 16 MiB) and value log (2 × 64 MiB), whose blocks are allocated when the file
// is created, and the tables of the memtables being flushed and compacted.
const DefaultMinFreeDiskMiB = 256

// DefaultMaxPendingRecords is about ten seconds of the national peak (14k records/s) at one
// bureau, and keeps a bureau's memory for records in flight to some tens of MiB.
const DefaultMaxPendingRecords = 100_000

// DefaultMaxPendingWait is how long a bureau lets an acknowledged record expect to wait before it
// is final: long enough to ride out the bursts of a month-end upload, short enough that an
// acknowledgement still means "final soon" when the network cannot keep up.
const DefaultMaxPendingWait = 30 * time.Second

// pendingWaitFloor is the pending records below which max_pending_wait never refuses: two full
// blocks, so that a bureau whose network has applied nothing of it lately (just started, or idle)
// still takes an upload while the rate builds up.
func pendingWaitFloor(blockRecords int) int { return 2 * blockRecords }

// DefaultConfig returns the defaults; DataDir, Key, Genesis and Pepper must still be set.
func DefaultConfig() Config {
	return Config{
		HTTP:               "127.0.0.1:8080",
		Listen:             []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"},
		LogLevel:           "info",
		BlockInterval:      Duration{200 * time.Millisecond},
		BlockRecords:       1000,
		CheckpointInterval: Duration{250 * time.Millisecond},
		SyncInterval:       Duration{5 * time.Second},
		RaftTimings:        "default",
		MinFreeDiskMiB:     DefaultMinFreeDiskMiB,
		MaxPendingRecords:  DefaultMaxPendingRecords,
		MaxPendingWait:     Duration{DefaultMaxPendingWait},
		ShutdownTimeout:    Duration{30 * time.Second},
		SnapshotInterval:   DefaultSnapshotInterval,
		FastJoin:           true,
		FastJoinLag:        DefaultFastJoinLag,
	}
}

// LoadConfig reads a JSON configuration file over DefaultConfig. Unknown fields are errors.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	raw, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("parse config %s: %w", path, err)
	}
	base := filepath.Dir(path)
	for _, p := range []*string{&cfg.DataDir, &cfg.Key, &cfg.Genesis, &cfg.Pepper, &cfg.TokenFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	return cfg, nil
}

// setting is one configuration field as the environment and flags see it.
type setting struct {
	name  string // flag name; the variable is JAMINAN_ + upper case with _
	usage string
	set   func(c *Config, v string) error
	get   func(c *Config) string
}

func settings() []setting {
	str := func(name, usage string, f func(c *Config) *string) setting {
		return setting{name, usage, func(c *Config, v string) error { *f(c) = v; return nil },
			func(c *Config) string { return *f(c) }}
	}
	list := func(name, usage string, f func(c *Config) *[]string) setting {
		return setting{name, usage, func(c *Config, v string) error {
			*f(c) = nil
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					*f(c) = append(*f(c), s)
				}
			}
			return nil
		}, func(c *Config) string { return strings.Join(*f(c), ",") }}
	}
	dur := func(name, usage string, f func(c *Config) *Duration) setting {
		return setting{name, usage, func(c *Config, v string) error { return f(c).UnmarshalText([]byte(v)) },
			func(c *Config) string { return f(c).String() }}
	}
	return []setting{
		str("data-dir", "directory of the node's databases", func(c *Config) *string { return &c.DataDir }),
		str("key", "node key file", func(c *Config) *string { return &c.Key }),
		str("genesis", "genesis file", func(c *Config) *string { return &c.Genesis }),
		str("pepper", "network pepper file", func(c *Config) *string { return &c.Pepper }),
		str("token-file", "operator token file (default DATA_DIR/operator.token)", func(c *Config) *string { return &c.TokenFile }),
		str("http", "HTTP API listen address", func(c *Config) *string { return &c.HTTP }),
		list("listen", "libp2p listen multiaddrs, comma-separated", func(c *Config) *[]string { return &c.Listen }),
		list("peers", "peer multiaddrs ending in /p2p/<id>, comma-separated", func(c *Config) *[]string { return &c.Peers }),
		str("log-level", "debug, info, warn or error", func(c *Config) *string { return &c.LogLevel }),
		dur("block-interval", "cut a block that is not full after this long", func(c *Config) *Duration { return &c.BlockInterval }),
		{"block-records", "records per full block", func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			c.BlockRecords = n
			return err
		}, func(c *Config) string { return strconv.Itoa(c.BlockRecords) }},
		dur("checkpoint-interval", "ministry: cut a checkpoint when the oldest unordered block is this old", func(c *Config) *Duration { return &c.CheckpointInterval }),
		dur("sync-interval", "period of the full sync round", func(c *Config) *Duration { return &c.SyncInterval }),
		str("raft-timings", "default or fast", func(c *Config) *string { return &c.RaftTimings }),
		dur("clock-offset", "added to the system clock (tests of a skewed clock; default 0)", func(c *Config) *Duration { return &c.ClockOffset }),
		{"max-pending-records", "acknowledged records not yet final beyond which new ones get 503", func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			c.MaxPendingRecords = n
			return err
		}, func(c *Config) string { return strconv.Itoa(c.MaxPendingRecords) }},
		dur("max-pending-wait", "expected wait to final beyond which new records get 503 (0: no bound)", func(c *Config) *Duration { return &c.MaxPendingWait }),
		dur("shutdown-timeout", "time the node gets to close after SIGTERM before it exits without closing", func(c *Config) *Duration { return &c.ShutdownTimeout }),
		{"min-free-disk-mib", "free MiB below which the node stops writing (0: no guard)", func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			c.MinFreeDiskMiB = n
			return err
		}, func(c *Config) string { return strconv.Itoa(c.MinFreeDiskMiB) }},
		{"snapshot-interval", "ministry: export and attest the state every this many checkpoints (0: off)", func(c *Config, v string) error {
			n, err := strconv.ParseUint(v, 10, 64)
			c.SnapshotInterval = n
			return err
		}, func(c *Config) string { return strconv.FormatUint(c.SnapshotInterval, 10) }},
		{"fast-join", "bureau: join from an attested snapshot when started empty and far behind (true or false)", func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			c.FastJoin = b
			return err
		}, func(c *Config) string { return strconv.FormatBool(c.FastJoin) }},
		{"fast-join-lag", "final checkpoints behind the peers above which an empty bureau joins from a snapshot", func(c *Config, v string) error {
			n, err := strconv.ParseUint(v, 10, 64)
			c.FastJoinLag = n
			return err
		}, func(c *Config) string { return strconv.FormatUint(c.FastJoinLag, 10) }},
	}
}

// EnvName returns the environment variable of a flag name: JAMINAN_DATA_DIR for data-dir.
func EnvName(flagName string) string {
	return "JAMINAN_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ApplyEnv overrides fields from JAMINAN_* environment variables (lookup is os.LookupEnv in
// production). It names every variable it could not parse.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	var errs []error
	for _, s := range settings() {
		if v, ok := lookup(EnvName(s.name)); ok {
			if err := s.set(c, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", EnvName(s.name), err))
			}
		}
	}
	return errors.Join(errs...)
}

// BindFlags defines one flag per field on fs. It returns a function that applies the flags set
// on the command line to a configuration: call it after LoadConfig and ApplyEnv, so that flags
// override the environment, which overrides the file.
func BindFlags(fs *flag.FlagSet) func(*Config) error {
	type assignment struct {
		s setting
		v string
	}
	var given []assignment
	for _, s := range settings() {
		fs.Func(s.name, s.usage+" (env "+EnvName(s.name)+")", func(v string) error {
			if err := s.set(&Config{}, v); err != nil {
				return err
			}
			given = append(given, assignment{s, v})
			return nil
		})
	}
	return func(c *Config) error {
		for _, a := range given {
			if err := a.s.set(c, a.v); err != nil {
				return fmt.Errorf("--%s: %w", a.s.name, err)
			}
		}
		return nil
	}
}

// Validate returns every problem with the configuration at once, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	for _, f := range []struct{ field, v string }{{"data_dir", c.DataDir}, {"key", c.Key}, {"genesis", c.Genesis}, {"pepper", c.Pepper}} {
		if f.v == "" {
			bad(f.field, "required")
		}
	}
	if _, err := netip.ParseAddrPort(c.HTTP); err != nil {
		bad("http", "%q is not an address:port (%v)", c.HTTP, err)
	}
	if len(c.Listen) == 0 {
		bad("listen", "at least one multiaddr required")
	}
	for _, l := range c.Listen {
		if _, err := ma.NewMultiaddr(l); err != nil {
			bad("listen", "%q: %v", l, err)
		}
	}
	for _, p := range c.Peers {
		if _, err := peer.AddrInfoFromString(p); err != nil {
			bad("peers", "%q: %v (want /ip4/…/tcp/…/p2p/<peer ID>)", p, err)
		}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		bad("log_level", "%q: want debug, info, warn or error", c.LogLevel)
	}
	if c.BlockInterval.Duration < 10*time.Millisecond || c.BlockInterval.Duration > time.Minute {
		bad("block_interval", "%v outside 10ms–1m", c.BlockInterval)
	}
	if c.BlockRecords < 1 || c.BlockRecords > 4096 {
		bad("block_records", "%d outside 1–4096", c.BlockRecords)
	}
	if c.CheckpointInterval.Duration < 10*time.Millisecond || c.CheckpointInterval.Duration > time.Minute {
		bad("checkpoint_interval", "%v outside 10ms–1m", c.CheckpointInterval)
	}
	if c.SyncInterval.Duration < 100*time.Millisecond || c.SyncInterval.Duration > time.Hour {
		bad("sync_interval", "%v outside 100ms–1h", c.SyncInterval)
	}
	if c.ClockOffset.Duration < -time.Hour || c.ClockOffset.Duration > time.Hour {
		bad("clock_offset", "%v outside -1h–1h", c.ClockOffset)
	}
	if c.MaxPendingRecords < 1 || c.MaxPendingRecords > 100_000_000 {
		bad("max_pending_records", "%d outside 1–100000000", c.MaxPendingRecords)
	}
	if c.MaxPendingWait.Duration != 0 && (c.MaxPendingWait.Duration < time.Second || c.MaxPendingWait.Duration > 24*time.Hour) {
		bad("max_pending_wait", "%v outside 1s–24h (or 0: no bound)", c.MaxPendingWait)
	}
	if c.MinFreeDiskMiB < 0 || c.MinFreeDiskMiB > 1<<20 {
		bad("min_free_disk_mib", "%d outside 0–1048576", c.MinFreeDiskMiB)
	}
	if c.ShutdownTimeout.Duration < time.Second || c.ShutdownTimeout.Duration > 10*time.Minute {
		bad("shutdown_timeout", "%v outside 1s–10m", c.ShutdownTimeout)
	}
	if c.FastJoin && c.FastJoinLag == 0 {
		bad("fast_join_lag", "must be positive when fast_join is on")
	}
	if c.RaftTimings != "default" && c.RaftTimings != "fast" {
		bad("raft_timings", "%q: want default or fast", c.RaftTimings)
	}
	return errors.Join(errs...)
}

func (c *Config) logLevel() slog.Level {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	return lvl
}
