package torture

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jaminan/jaminan/torture/hostile"
)

// hostileScenarios are the scenarios with hostile parties (package torture/hostile): a rogue
// member (its key is in the genesis) publishing garbage, forged signatures, oversized
// messages, equivocating blocks and replays; a non-member dialling and spamming; HTTP clients
// sending garbage and clients holding connections open — all at once, under load.
func (s *Suite) hostileScenarios() []Scenario {
	hold := s.pick(12*time.Second, 60*time.Second)
	conns := 50
	return []Scenario{{Name: "hostile",
		Injected: fmt.Sprintf("for %v under load: the rogue member (region %s, in the genesis) publishing garbage, forged signatures, "+
			"oversized messages, equivocating blocks and replays of old blocks; a non-member dialling and spamming; HTTP garbage to "+
			"every node; %d slow clients per node holding connections open", hold, RogueRegion, conns),
		run: func(ctx context.Context, s *Suite, st *Stats) (time.Time, error) {
			hctx, cancel := context.WithTimeout(ctx, hold)
			defer cancel()
			type outcome struct {
				who   string
				stats hostile.Stats
				err   error
			}
			var mu sync.Mutex
			var outs []outcome
			var wg sync.WaitGroup
			run := func(who string, f func() (hostile.Stats, error)) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					stats, err := f()
					mu.Lock()
					outs = append(outs, outcome{who, stats, err})
					mu.Unlock()
				}()
			}
			log := s.log.With("component", "hostile")
			run("rogue member", func() (hostile.Stats, error) {
				return hostile.RunRogue(hctx, hostile.RogueConfig{KeyFile: s.C.RogueKey, GenesisFile: s.C.Genesis, Peers: s.C.PeerAddrs()}, log)
			})
			run("non-member", func() (hostile.Stats, error) { return hostile.RunNonMember(hctx, s.C.PeerAddrs(), log) })
			run("HTTP garbage", func() (hostile.Stats, error) { return hostile.RunHTTPGarbage(hctx, s.C.URLs(), log) })
			run("slow clients", func() (hostile.Stats, error) { return hostile.RunSlowClients(hctx, s.C.URLs(), conns, log) })
			wg.Wait()
			for _, o := range outs {
				if o.err != nil && ctx.Err() == nil {
					st.note("%s ended with: %v", o.who, o.err)
				}
				st.note("%s: %d sent, %d refused or failed (%s)", o.who, o.stats.Sent, o.stats.Errors, kinds(o.stats.Kinds))
			}
			return time.Now(), nil
		}}}
}
