package p2p

import (
	"math"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Peer-score thresholds (see DESIGN.md "Scoring"). A peer below GossipThreshold gets no gossip
// from us, below PublishThreshold none of our own messages, below GraylistThreshold every RPC
// it sends is ignored.
const (
	GossipThreshold   = -20.0
	PublishThreshold  = -40.0
	GraylistThreshold = -80.0
)

// Penalties for sync-protocol misbehaviour, in app-specific score points. They decay with
// penaltyHalfLife. A peer whose penalty reaches banPenalty is disconnected and refused until it
// has decayed below it.
const (
	penaltyMalformed = 50.0  // garbage, oversized or truncated frame, or a frame out of place
	penaltyStall     = 10.0  // a stream that missed its deadline
	penaltyInvalid   = 100.0 // a ledger object that fails verification (forged, wrong hash, broken chain)
	banPenalty       = 200.0
	penaltyHalfLife  = 5 * time.Minute
)

// penalties holds decaying misbehaviour points per peer. They feed gossipsub's app-specific
// score (P5), so a peer that abuses the sync protocol also loses its gossip standing.
type penalties struct {
	mu   sync.Mutex
	byID map[peer.ID]*penalty
}

type penalty struct {
	value float64
	at    time.Time
}

func newPenalties() *penalties { return &penalties{byID: map[peer.ID]*penalty{}} }

// decayed returns the value of pen at now.
func (p *penalty) decayed(now time.Time) float64 {
	dt := now.Sub(p.at)
	if dt <= 0 {
		return p.value
	}
	return p.value * math.Exp2(-float64(dt)/float64(penaltyHalfLife))
}

// add adds points to a peer's penalty and returns the new value.
func (ps *penalties) add(id peer.ID, points float64, now time.Time) float64 {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.byID[id]
	if p == nil {
		p = &penalty{}
		ps.byID[id] = p
	}
	p.value = p.decayed(now) + points
	p.at = now
	// Forget peers whose penalties have decayed away, so the map stays small.
	if len(ps.byID) > 1024 {
		for k, v := range ps.byID {
			if v.decayed(now) < 0.01 {
				delete(ps.byID, k)
			}
		}
	}
	return p.value
}

// value returns a peer's current penalty.
func (ps *penalties) value(id peer.ID, now time.Time) float64 {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if p := ps.byID[id]; p != nil {
		return p.decayed(now)
	}
	return 0
}

// banned reports whether a peer's penalty is at or over the ban level.
func (ps *penalties) banned(id peer.ID, now time.Time) bool { return ps.value(id, now) >= banPenalty }

// scoreParams returns gossipsub's peer-score parameters for the given topics.
//
// Positive scores are small and capped (TopicScoreCap), so a peer cannot bank good behaviour to
// hide forgeries; invalid messages (P4) cost weight×count², so three forgeries take a peer below
// the graylist threshold; mesh-delivery deficits (P3) are off because a quiet bureau publishes
// nothing for hours and must not be penalised for it.
func scoreParams(topics []string, seenTTL time.Duration, app func(peer.ID) float64) (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	tp := func() *pubsub.TopicScoreParams {
		return &pubsub.TopicScoreParams{
			TopicWeight: 1,

			TimeInMeshWeight:  0.01,
			TimeInMeshQuantum: time.Second,
			TimeInMeshCap:     300,

			FirstMessageDeliveriesWeight: 1,
			FirstMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(10 * time.Minute),
			FirstMessageDeliveriesCap:    5,

			MeshMessageDeliveriesWeight:     0,
			MeshMessageDeliveriesDecay:      pubsub.ScoreParameterDecay(time.Minute),
			MeshMessageDeliveriesCap:        10,
			MeshMessageDeliveriesThreshold:  1,
			MeshMessageDeliveriesWindow:     10 * time.Millisecond,
			MeshMessageDeliveriesActivation: time.Minute,

			MeshFailurePenaltyWeight: 0,
			MeshFailurePenaltyDecay:  pubsub.ScoreParameterDecay(time.Minute),

			InvalidMessageDeliveriesWeight: -20,
			InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Hour),
		}
	}
	params := &pubsub.PeerScoreParams{
		Topics:        map[string]*pubsub.TopicScoreParams{},
		TopicScoreCap: 10,

		AppSpecificScore:  app,
		AppSpecificWeight: 1,

		// Bureaus may sit behind one NAT or share a data centre; colocation says nothing here.
		IPColocationFactorWeight:    0,
		IPColocationFactorThreshold: 1,

		BehaviourPenaltyWeight:    -10,
		BehaviourPenaltyThreshold: 6,
		BehaviourPenaltyDecay:     pubsub.ScoreParameterDecay(10 * time.Minute),

		DecayInterval: time.Second,
		DecayToZero:   pubsub.DefaultDecayToZero,
		// Keep a disconnected peer's score for an hour, so a forger cannot reconnect clean.
		RetainScore: time.Hour,
		SeenMsgTTL:  seenTTL,
	}
	for _, t := range topics {
		params.Topics[t] = tp()
	}
	thresholds := &pubsub.PeerScoreThresholds{
		GossipThreshold:   GossipThreshold,
		PublishThreshold:  PublishThreshold,
		GraylistThreshold: GraylistThreshold,
		// Peer exchange is off; make sure nobody's PX would be accepted anyway.
		AcceptPXThreshold:           1e9,
		OpportunisticGraftThreshold: 1,
	}
	return params, thresholds
}
