package p2p

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"github.com/jaminan/jaminan/ledger"
)

// voteEncMode encodes votes the way the ledger does (RFC 8949 §4.2.1 core deterministic
// encoding, empty containers for nil); ledger.DecodeVote re-encodes and compares, so a
// mismatch could never pass validation unnoticed (TestVoteEncodingRoundTrip).
// The ledger has no Vote.Encode; if it grows one, use it instead.
var voteEncMode = func() cbor.EncMode {
	eo := cbor.CoreDetEncOptions()
	eo.Time = cbor.TimeUnix
	eo.NilContainers = cbor.NilContainerAsEmpty
	em, err := eo.EncMode()
	if err != nil {
		panic(fmt.Sprintf("p2p: vote encoder: %v", err))
	}
	return em
}()

// encodeVote returns the canonical bytes of a vote.
func encodeVote(v *ledger.Vote) []byte {
	b, err := voteEncMode.Marshal(v)
	if err != nil {
		// A Vote is fixed-shape plain data; failing to encode it is a programming error.
		panic(fmt.Sprintf("p2p: encode vote: %v", err))
	}
	return b
}
