package ledger

import "fmt"

// ProducerTip returns the height and hash of the producer's last block the state machine
// accepted (0 and the zero hash if none), from the state alone. A node whose history starts at
// an imported snapshot holds none of the blocks before it; the state still knows where each
// producer's chain stands, which is what sync and gossip validation need to continue it.
func ProducerTip(st StateReader, p KeyID) (uint64, Hash, error) {
	t, ok, err := readObj[chainTip](st, keyTip(p))
	if err != nil {
		return 0, Hash{}, fmt.Errorf("producer tip of %s: %w", p.Short(), err)
	}
	if !ok {
		return 0, Hash{}, nil
	}
	return t.Height, t.Hash, nil
}
