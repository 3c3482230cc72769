package node

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jaminan/jaminan/store"
)

// nodeMetrics are the node's own metrics; p2p, consensus and the API register theirs on the
// same registry.
type nodeMetrics struct {
	submitted     prometheus.Counter
	refused       *prometheus.CounterVec
	applied       *prometheus.CounterVec
	checkpoints   prometheus.Counter
	blocks        prometheus.Counter
	publishErrors prometheus.Counter
	witnesses     prometheus.Counter
	finalTime     prometheus.Gauge
	raftState     func() float64
}

func newNodeMetrics(reg prometheus.Registerer, n *Node) (*nodeMetrics, error) {
	m := &nodeMetrics{
		submitted: prometheus.NewCounter(prometheus.CounterOpts{Name: "jaminan_node_records_submitted_total",
			Help: "Records acknowledged by this node (durable in its outbox)."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jaminan_node_records_refused_total",
			Help: "Records refused whole, nothing stored: reason busy (max_pending_records) or disk_full (min_free_disk_mib)."}, []string{"reason"}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jaminan_node_records_applied_total",
			Help: "Records in applied final checkpoints, by receipt code; rate() gives records/s."}, []string{"code"}),
		checkpoints: prometheus.NewCounter(prometheus.CounterOpts{Name: "jaminan_node_checkpoints_applied_total",
			Help: "Checkpoints applied by this node."}),
		blocks: prometheus.NewCounter(prometheus.CounterOpts{Name: "jaminan_node_blocks_produced_total",
			Help: "Blocks this node produced."}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "jaminan_node_block_publish_errors_total",
			Help: "Own blocks whose first gossip failed (peers fetch them by sync)."}),
		witnesses: prometheus.NewCounter(prometheus.CounterOpts{Name: "jaminan_node_witness_cosignatures_total",
			Help: "Bureau witness cosignatures received."}),
		finalTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jaminan_node_last_final_timestamp_seconds",
			Help: "When the node last learned of a final checkpoint (unix seconds)."}),
	}
	gauges := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jaminan_node_final_seq", Help: "Sequence of the last final checkpoint served."},
			func() float64 { return float64(n.views.seq()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jaminan_node_lag", Help: "Final checkpoints known to peers and not applied here."},
			func() float64 {
				if n.p2p == nil {
					return 0
				}
				return float64(n.p2p.Lag())
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jaminan_node_peers", Help: "Connected peers."},
			func() float64 {
				if n.p2p == nil {
					return 0
				}
				return float64(len(n.p2p.Host().Network().Peers()))
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jaminan_node_pending_records", Help: "Acknowledged records not yet final."},
			func() float64 {
				if n.prod == nil {
					return 0
				}
				return float64(n.prod.PendingCount())
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jaminan_node_disk_free_bytes", Help: "Free bytes on the data directory's file system (the node stops writing below min_free_disk_mib)."},
			func() float64 {
				free, err := n.disk.free()
				if err != nil {
					return -1
				}
				return float64(free)
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jaminan_store_lsm_bytes", Help: "Bytes of the ledger store's tables, as badger last measured them (once a minute)."},
			func() float64 { lsm, _ := n.chain.st.Size(); return float64(lsm) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jaminan_store_vlog_bytes", Help: "Bytes of the ledger store's value log files, as badger last measured them (once a minute)."},
			func() float64 { _, vlog := n.chain.st.Size(); return float64(vlog) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jaminan_store_state_bytes", Help: "Bytes of the ledger state's engine files (sorted runs and log)."},
			func() float64 { st, _ := n.chain.st.EngineSize(); return float64(st) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jaminan_store_index_bytes", Help: "Bytes of the secondary indexes' engine files (sorted runs and log)."},
			func() float64 { _, ix := n.chain.st.EngineSize(); return float64(ix) }),
	}
	// The store's two engines (store/DESIGN.md §2a): a memtable that stays large, runs that pile
	// up or a flush that keeps failing show here before they show in the apply rate.
	for _, e := range []struct {
		name string
		of   func() store.EngineStats
	}{
		{"state", func() store.EngineStats { st, _ := n.chain.st.EngineStats(); return st }},
		{"index", func() store.EngineStats { _, ix := n.chain.st.EngineStats(); return ix }},
	} {
		labels := prometheus.Labels{"engine": e.name}
		of := e.of
		gauges = append(gauges,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jaminan_store_engine_runs", ConstLabels: labels,
				Help: "Sorted run files of the store's engine (a read that misses probes each one's bloom filter)."},
				func() float64 { return float64(of().Runs) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jaminan_store_engine_memtable_bytes", ConstLabels: labels,
				Help: "Keys and values the store's engine holds in memory: the memtable filling and the one being written out."},
				func() float64 { return float64(of().MemBytes) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jaminan_store_engine_flushes_total", ConstLabels: labels,
				Help: "Memtables the store's engine wrote out as runs since the store opened."},
				func() float64 { return float64(of().Flushes) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jaminan_store_engine_merges_total", ConstLabels: labels,
				Help: "Merges of runs by the store's engine since the store opened."},
				func() float64 { return float64(of().Merges) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jaminan_store_engine_flush_failing", ConstLabels: labels,
				Help: "1 while the last flush of the store's engine failed (I/O, or below the disk floor); each commit retries it and its memtable grows meanwhile."},
				func() float64 {
					if of().FlushFailed {
						return 1
					}
					return 0
				}),
		)
	}
	gauges = append(gauges,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jaminan_node_unordered_blocks", Help: "Blocks held that no applied checkpoint orders yet."},
			func() float64 { return float64(n.chain.PoolSize()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jaminan_node_raft_state", Help: "Raft state of a ministry node: 0 follower, 1 candidate, 2 leader, -1 other or not a ministry node."},
			func() float64 {
				if m.raftState == nil {
					return -1
				}
				return m.raftState()
			}),
	)
	for _, c := range append([]prometheus.Collector{m.submitted, m.refused, m.applied, m.checkpoints, m.blocks, m.publishErrors, m.witnesses, m.finalTime}, gauges...) {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register node metrics: %w", err)
		}
	}
	return m, nil
}
