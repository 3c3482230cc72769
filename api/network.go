package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/jaminan/jaminan/ledger"
)

// The network overview (GET /v1/network): what a node knows about the whole network, for the
// web page and for monitoring. It is public like /v1/status and /v1/evidence: it names member
// keys, never workers. Overdue transfer cases are counted for everyone and listed (their case
// tokens are the public tracker's capability) only for the operator.

// NetworkInfo is what Backend.Network reports.
type NetworkInfo struct {
	// Members is the member registry as of the last final checkpoint.
	Members []ledger.Member
	// Connected is the set of members this node has a connection to now.
	Connected map[ledger.KeyID]bool
	// Heard is, per member, the last checkpoint sequence it was heard voting on (ministry) or
	// cosigning as a witness (bureau), since this node started.
	Heard map[ledger.KeyID]uint64
	// Recent are the last final checkpoints this node saw become final, oldest first.
	Recent []FinalSample
	// Health is the node's consensus health (the alarms of the consensus package).
	Health ConsensusHealth
	// OpenCases are transfer cases applied since the node started that were not completed or
	// rejected when last looked at (bounded; a restart forgets the older ones).
	OpenCases []ledger.Hash
}

// FinalSample is one final checkpoint as this node saw it.
type FinalSample struct {
	Seq     uint64
	Time    uint64 // checkpoint time (leader's clock), unix ms
	FinalAt uint64 // when this node had it final, unix ms (its own clock)
	Blocks  int
	Records int
}

// ConsensusHealth is the consensus health of a node: "ok", "degraded" (an alarm was raised, still
// applying) or "halted"; the last alarm's kind, reason and sequence.
type ConsensusHealth struct {
	State  string `json:"state"`
	Kind   string `json:"kind,omitempty"`
	Reason string `json:"reason,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
	Alarms uint64 `json:"alarms"`
}

// Thresholds of the network alarms.
const (
	// keyExpiryWarning: a member key whose validity ends within this is reported.
	keyExpiryWarning = 30 * 24 * time.Hour
	// lagAlarm: a node heard last this many final checkpoints ago, or this node itself this
	// many checkpoints behind, is lagging.
	lagAlarm = 10
	// throughputWindow: throughput and finality latency are over the checkpoints final within
	// this window.
	throughputWindow = 5 * time.Minute
	maxOverdueListed = 200
)

type memberJSON struct {
	ID        ledger.KeyID `json:"id"`
	Role      string       `json:"role"`
	Region    string       `json:"region,omitempty"`
	Name      string       `json:"name"`
	From      *string      `json:"valid_from"`  // RFC 3339, null: from genesis
	Until     *string      `json:"valid_until"` // RFC 3339, null: no end
	Revoked   bool         `json:"revoked"`
	Active    bool         `json:"active"`
	Self      bool         `json:"self"`
	Connected bool         `json:"connected"`
	LastSeq   *uint64      `json:"last_seq"` // last checkpoint it was heard on; null: not heard (or no node)
	Lag       *uint64      `json:"lag"`
}

type sampleJSON struct {
	Seq       uint64 `json:"seq"`
	Time      uint64 `json:"time"`
	FinalAt   uint64 `json:"final_at"`
	LatencyMS int64  `json:"latency_ms"`
	Blocks    int    `json:"blocks"`
	Records   int    `json:"records"`
}

type throughputJSON struct {
	WindowSeconds        int     `json:"window_seconds"`
	Checkpoints          int     `json:"checkpoints"`
	Records              int     `json:"records"`
	RecordsPerSecond     float64 `json:"records_per_second"`
	CheckpointsPerMinute float64 `json:"checkpoints_per_minute"`
	LatencyP50MS         int64   `json:"finality_latency_p50_ms"`
	LatencyMaxMS         int64   `json:"finality_latency_max_ms"`
}

type alarmJSON struct {
	Kind     string `json:"kind"`
	Severity string `json:"severity"` // critical | warning
	Subject  string `json:"subject,omitempty"`
	Message  string `json:"message"`
}

type overdueJSON struct {
	Count int           `json:"count"`
	Open  int           `json:"open"`
	Cases []ledger.Hash `json:"cases,omitempty"` // the operator only
}

type networkJSON struct {
	Node       Status          `json:"node"`
	Members    []memberJSON    `json:"members"`
	Peers      int             `json:"peers"`
	Recent     []sampleJSON    `json:"recent"`
	Throughput throughputJSON  `json:"throughput"`
	Health     ConsensusHealth `json:"health"`
	Evidence   int             `json:"evidence"`
	Overdue    overdueJSON     `json:"overdue"`
	Alarms     []alarmJSON     `json:"alarms"`
	Time       uint64          `json:"time"` // the node's clock, unix ms
}

func msTime(ms uint64) *string {
	if ms == 0 {
		return nil
	}
	s := time.UnixMilli(int64(ms)).UTC().Format(time.RFC3339)
	return &s
}

func (a *API) handleNetwork(w http.ResponseWriter, r *http.Request, p *principal) error {
	out, err := a.network(r.Context(), p != nil && p.operator)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) network(ctx context.Context, operator bool) (*networkJSON, error) {
	st, err := a.b.Status(ctx)
	if err != nil {
		return nil, err
	}
	info, err := a.b.Network(ctx)
	if err != nil {
		return nil, fmt.Errorf("network overview: %w", err)
	}
	now := a.b.Now()
	nowMS := uint64(now.UnixMilli())
	final := st.Finalized.Seq
	out := &networkJSON{Node: st, Members: []memberJSON{}, Peers: st.Peers, Recent: []sampleJSON{}, Health: info.Health,
		Evidence: len(a.b.Evidence()), Alarms: []alarmJSON{}, Time: nowMS}
	if out.Health.State == "" {
		out.Health.State = "ok"
	}
	alarm := func(kind, sev, subject, format string, args ...any) {
		out.Alarms = append(out.Alarms, alarmJSON{Kind: kind, Severity: sev, Subject: subject, Message: fmt.Sprintf(format, args...)})
	}

	// Consensus health: a root mismatch halts the node; other alarms degrade it.
	switch info.Health.State {
	case "halted":
		kind := info.Health.Kind
		if kind == "" {
			kind = "halted"
		}
		alarm(kind, "critical", fmt.Sprint(info.Health.Seq), "consensus halted at checkpoint %d: %s", info.Health.Seq, info.Health.Reason)
	case "degraded":
		alarm(info.Health.Kind, "warning", fmt.Sprint(info.Health.Seq), "consensus degraded at checkpoint %d: %s", info.Health.Seq, info.Health.Reason)
	}
	if out.Evidence > 0 {
		alarm("evidence", "critical", "", "this node holds %d proofs of member misbehaviour (GET /v1/evidence)", out.Evidence)
	}
	if st.Lag >= lagAlarm {
		alarm("node_lagging", "warning", st.NodeID.String(), "this node is %d final checkpoints behind", st.Lag)
	}

	for _, m := range info.Members {
		mj := memberJSON{ID: m.ID, Role: m.Role, Region: m.Region, Name: m.Name, From: msTime(m.From), Until: msTime(m.Until),
			Revoked: m.Revoked, Active: m.ActiveAt(nowMS), Self: m.ID == st.NodeID, Connected: info.Connected[m.ID]}
		runsNode := m.Role == ledger.RoleMinistry || m.Role == ledger.RoleBureau
		if mj.Self {
			s, l := final, st.Lag
			mj.LastSeq, mj.Lag = &s, &l
		} else if seq, ok := info.Heard[m.ID]; ok {
			l := uint64(0)
			if final > seq {
				l = final - seq
			}
			s := seq
			mj.LastSeq, mj.Lag = &s, &l
		}
		if runsNode && mj.Active && !mj.Self {
			switch {
			case mj.Lag != nil && *mj.Lag >= lagAlarm:
				alarm("node_lagging", "warning", m.ID.String(), "%s was last heard at checkpoint %d, %d behind", m.Name, *mj.LastSeq, *mj.Lag)
			case mj.Lag == nil && final >= lagAlarm:
				alarm("node_lagging", "warning", m.ID.String(), "%s has not been heard voting or cosigning since this node started", m.Name)
			}
		}
		if !m.Revoked && m.Until != 0 {
			until := time.UnixMilli(int64(m.Until))
			switch left := until.Sub(now); {
			case left <= 0:
				alarm("member_key_expired", "critical", m.ID.String(), "the key of %s expired on %s", m.Name, until.UTC().Format(time.DateOnly))
			case left <= keyExpiryWarning:
				alarm("member_key_expiring", "warning", m.ID.String(), "the key of %s expires on %s, in %d days", m.Name,
					until.UTC().Format(time.DateOnly), int(left.Hours()/24))
			}
		}
		out.Members = append(out.Members, mj)
	}

	// Throughput and finality latency over the recent window.
	var lat []int64
	var first, last uint64
	for _, s := range info.Recent {
		l := int64(s.FinalAt) - int64(s.Time)
		out.Recent = append(out.Recent, sampleJSON{Seq: s.Seq, Time: s.Time, FinalAt: s.FinalAt, LatencyMS: l, Blocks: s.Blocks, Records: s.Records})
		if s.FinalAt+uint64(throughputWindow.Milliseconds()) < nowMS {
			continue
		}
		if first == 0 {
			first = s.FinalAt
		}
		last = s.FinalAt
		out.Throughput.Checkpoints++
		out.Throughput.Records += s.Records
		lat = append(lat, l)
	}
	out.Throughput.WindowSeconds = int(throughputWindow.Seconds())
	if len(lat) > 0 {
		slices.Sort(lat)
		out.Throughput.LatencyP50MS, out.Throughput.LatencyMaxMS = lat[len(lat)/2], lat[len(lat)-1]
		// Rates over the time the samples span (at least a second), not the whole window: a node
		// that just started is not averaged over minutes it did not see.
		span := max(float64(int64(last)-int64(first))/1000, float64(int64(nowMS)-int64(first))/1000, 1)
		out.Throughput.RecordsPerSecond = float64(out.Throughput.Records) / span
		out.Throughput.CheckpointsPerMinute = float64(out.Throughput.Checkpoints) * 60 / span
	}

	// Transfers past their stage's deadline.
	if len(info.OpenCases) > 0 {
		v, err := a.b.View(ctx)
		if err != nil {
			return nil, err
		}
		today := a.today().Int()
		for _, c := range info.OpenCases {
			t, ok, err := ledger.GetTransfer(v, c)
			if err != nil || !ok || t.Stage == "completed" || t.Stage == "rejected" {
				continue
			}
			out.Overdue.Open++
			if t.Deadline != 0 && today > t.Deadline {
				out.Overdue.Count++
				if operator && len(out.Overdue.Cases) < maxOverdueListed {
					out.Overdue.Cases = append(out.Overdue.Cases, c)
				}
			}
		}
		v.Release()
	}
	if out.Overdue.Count > 0 {
		if out.Overdue.Count == 1 {
			alarm("transfer_overdue", "warning", "", "1 transfer case is past its stage's deadline")
		} else {
			alarm("transfer_overdue", "warning", "", "%d transfer cases are past their stages' deadlines", out.Overdue.Count)
		}
	}
	return out, nil
}
