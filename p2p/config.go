package p2p

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jaminan/jaminan/ledger"
)

// Config configures a Node. Start from DefaultConfig.
type Config struct {
	// Network is the network name from genesis; it names the protocols and topics.
	Network string
	// GenesisHash is the previous hash of checkpoint 1.
	GenesisHash ledger.Hash
	// Signer is the node's member key; the host's peer ID is its key ID.
	Signer *ledger.Signer
	// Ministry gives the ministry set that certifies each checkpoint.
	Ministry MinistryFunc
	// Genesis, when set, lets a joining node follow changes of the ministry set since genesis:
	// a snapshot attestation that Ministry's set does not verify is checked again against the
	// set proved by the serving peer's changes (request 0x08, ledger.MinistryHistory).
	Genesis *ledger.Genesis
	// OnEvidence receives producer misbehaviour (equivocations, forks); nil drops it.
	OnEvidence func(Evidence)

	// ListenAddrs are the TCP and QUIC addresses to listen on.
	ListenAddrs []ma.Multiaddr
	// StaticPeers are dialled at start, protected from trimming and redialled when lost.
	StaticPeers []peer.AddrInfo
	// ReconnectMin and ReconnectMax bound the backoff between redials of a static peer.
	ReconnectMin, ReconnectMax time.Duration
	// ConnLow and ConnHigh are the connection manager's watermarks.
	ConnLow, ConnHigh int
	// DialTimeout bounds one dial.
	DialTimeout time.Duration

	// SeenTTL is how long gossip remembers message IDs (and scores deliveries).
	SeenTTL time.Duration
	// QueueSize sizes gossipsub's validation queue, each peer's outbound queue and each
	// subscription's buffer (the defaults of 32 drop bursts).
	QueueSize int
	// PublishHighWater is the number of RPCs queued to any one peer above which PublishBlock
	// waits for the queue to drain (publisher flow control); at most QueueSize.
	PublishHighWater int
	// MaxAhead is how many heights beyond a producer's tip a gossiped block is still accepted
	// (its gap is synced); a block further ahead is ignored and only synced.
	MaxAhead uint64

	// AntiEntropy is the period of the full sync round (status of every peer, then catch-up).
	AntiEntropy time.Duration
	// RequestTimeout bounds how long a server waits for a request on a new stream.
	RequestTimeout time.Duration
	// StreamTimeout bounds one whole sync exchange.
	StreamTimeout time.Duration
	// LagThreshold is the lag (final checkpoints behind the best-known peer) above which the
	// health state is syncing.
	LagThreshold uint64
	// MaxServing bounds concurrent sync streams served.
	MaxServing int
	// FastJoinLag turns on the fast join (0: off). A node that holds no final checkpoint and
	// whose best peer is more than this many final checkpoints ahead imports the latest
	// attested state snapshot instead of replaying the history (Sink must implement
	// SnapshotSink); until it has decided, it syncs no checkpoints and no producer chains.
	FastJoinLag uint64

	// Logger receives the node's logs (libp2p's and gossipsub's too); nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the node's metrics; nil means metrics are not registered.
	Registerer prometheus.Registerer
}

// DefaultConfig returns a configuration sized for a permissioned network of tens of nodes.
// Network, GenesisHash, Signer and Ministry must still be set.
func DefaultConfig() Config {
	return Config{
		ListenAddrs: []ma.Multiaddr{
			ma.StringCast("/ip4/0.0.0.0/tcp/4001"),
			ma.StringCast("/ip4/0.0.0.0/udp/4001/quic-v1"),
		},
		ReconnectMin:     time.Second,
		ReconnectMax:     time.Minute,
		ConnLow:          64,
		ConnHigh:         128,
		DialTimeout:      10 * time.Second,
		SeenTTL:          10 * time.Minute,
		QueueSize:        4096,
		PublishHighWater: 512,
		MaxAhead:         64,
		AntiEntropy:      15 * time.Second,
		RequestTimeout:   5 * time.Second,
		StreamTimeout:    60 * time.Second,
		LagThreshold:     2,
		MaxServing:       32,
	}
}

// Validate returns every problem with the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Network == "" || len(c.Network) > 64 {
		add("network: must be 1–64 characters")
	}
	for _, r := range c.Network {
		if r == '/' || r < 0x21 || r > 0x7e {
			add("network: %q must be printable ASCII without '/' or spaces", c.Network)
			break
		}
	}
	if c.Signer == nil {
		add("signer: required")
	}
	if c.Ministry == nil {
		add("ministry: required")
	}
	if len(c.ListenAddrs) == 0 {
		add("listen_addrs: at least one")
	}
	for i, p := range c.StaticPeers {
		if p.ID == "" || len(p.Addrs) == 0 {
			add("static_peers[%d]: needs a peer ID and an address", i)
		}
	}
	if c.ReconnectMin <= 0 || c.ReconnectMax < c.ReconnectMin {
		add("reconnect_min, reconnect_max: want 0 < min ≤ max, got %v, %v", c.ReconnectMin, c.ReconnectMax)
	}
	if c.ConnLow <= 0 || c.ConnHigh <= c.ConnLow {
		add("conn_low, conn_high: want 0 < low < high, got %d, %d", c.ConnLow, c.ConnHigh)
	}
	if c.DialTimeout <= 0 {
		add("dial_timeout: must be positive")
	}
	if c.SeenTTL < time.Second {
		add("seen_ttl: at least 1s")
	}
	if c.QueueSize < 32 {
		add("queue_size: at least 32")
	}
	if c.PublishHighWater <= 0 || c.PublishHighWater > c.QueueSize {
		add("publish_high_water: want 1–queue_size (%d), got %d", c.QueueSize, c.PublishHighWater)
	}
	if c.MaxAhead == 0 {
		add("max_ahead: must be positive")
	}
	if c.AntiEntropy <= 0 {
		add("anti_entropy: must be positive")
	}
	if c.RequestTimeout <= 0 || c.StreamTimeout < c.RequestTimeout {
		add("request_timeout, stream_timeout: want 0 < request ≤ stream, got %v, %v", c.RequestTimeout, c.StreamTimeout)
	}
	if c.MaxServing <= 0 {
		add("max_serving: must be positive")
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid p2p config: %w", err)
	}
	return nil
}
