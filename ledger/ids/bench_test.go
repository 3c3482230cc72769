package ids

import (
	"testing"

	"github.com/jaminan/jaminan/ledger/civil"
)

var (
	sinkID   ResidentID
	sinkUSCC USCC
	sinkErr  error
)

func BenchmarkParseResidentID(b *testing.B) {
	asOf := civil.MustDate(2025, 1, 1)
	b.Run("valid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkID, sinkErr = ParseResidentID("440305199003071236", asOf)
		}
	})
	b.Run("lowercase_x", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkID, sinkErr = ParseResidentID("11010519491231002x", asOf)
		}
	})
	b.Run("checksum_error", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkID, sinkErr = ParseResidentID("110105194912310021", asOf)
		}
	})
}

func BenchmarkParseUSCC(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkUSCC, sinkErr = ParseUSCC("91350100M000100Y43")
	}
}
