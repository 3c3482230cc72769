package p2p

import "github.com/jaminan/jaminan/ledger"

// encodeVote returns the canonical bytes of a vote (ledger.DecodeVote re-encodes and compares,
// TestVoteEncodingRoundTrip).
func encodeVote(v *ledger.Vote) []byte { return v.Encode() }
