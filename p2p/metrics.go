package p2p

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's Prometheus collectors. They always exist (tests read them); they are
// registered only when Config.Registerer is set.
type metrics struct {
	gossip    *prometheus.CounterVec // topic, result
	dropped   *prometheus.CounterVec // reason
	delivered *prometheus.CounterVec // kind, via
	syncReqs  *prometheus.CounterVec // request, result
	served    *prometheus.CounterVec // kind
	penalised *prometheus.CounterVec // reason
	gated     prometheus.Counter
	equivocal prometheus.Counter
	funcs     []prometheus.Collector
}

const (
	viaGossip = "gossip"
	viaSync   = "sync"
)

func newMetrics(lag, syncing, peers func() float64) *metrics {
	const ns, sub = "jaminan", "p2p"
	return &metrics{
		gossip: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "gossip_validated_total",
			Help: "Gossip messages validated, by topic kind and result (accept, reject, ignore)."}, []string{"topic", "result"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "gossip_dropped_total",
			Help: "Gossip messages or RPCs dropped by a full queue, a throttle or a slow subscriber; each schedules a sync."}, []string{"reason"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "delivered_total",
			Help: "Verified items handed to the node, by kind and path (gossip, sync)."}, []string{"kind", "via"}),
		syncReqs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sync_requests_total",
			Help: "Sync requests made, by request and result."}, []string{"request", "result"}),
		served: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sync_served_total",
			Help: "Sync response items served to peers, by kind."}, []string{"kind"}),
		penalised: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "penalties_total",
			Help: "Penalties given to peers for sync misbehaviour, by reason."}, []string{"reason"}),
		gated: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "gated_total",
			Help: "Connections and dials refused by the member gate."}),
		equivocal: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "evidence_total",
			Help: "Equivocations and forks detected and reported."}),
		funcs: []prometheus.Collector{
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "sync_lag",
				Help: "Final checkpoints the best-known peer has that this node has not."}, lag),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "syncing",
				Help: "1 while the lag exceeds the configured threshold (health state syncing), else 0."}, syncing),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "peers",
				Help: "Connected peers."}, peers),
		},
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return append([]prometheus.Collector{m.gossip, m.dropped, m.delivered, m.syncReqs, m.served, m.penalised, m.gated, m.equivocal}, m.funcs...)
}

// register registers every collector; nil means metrics are off.
func (m *metrics) register(r prometheus.Registerer) error {
	if r == nil {
		return nil
	}
	var errs []error
	for _, c := range m.collectors() {
		if err := r.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("register p2p metrics: %w", err)
	}
	return nil
}

func (m *metrics) unregister(r prometheus.Registerer) {
	if r == nil {
		return
	}
	for _, c := range m.collectors() {
		r.Unregister(c)
	}
}
