package ledger

import (
	"bytes"
	"testing"
)

// Fixtures shared by the encoding, record, block, checkpoint, fuzz and golden tests. Everything
// is derived from fixed ed25519 seeds so that every byte is reproducible (ed25519 signing is
// deterministic).

const fixtureNetwork = "jaminan-test"

// fixtureSigner returns the signer whose 32-byte seed is b repeated: 0x01 is the producing
// bureau, 0x02 an employer, 0x03–0x07 ministry nodes.
func fixtureSigner(b byte) *Signer { return SignerFromSeed(bytes.Repeat([]byte{b}, 32)) }

// fixtureMinistry returns the signers of a ministry set of n nodes (seeds 0x03, 0x04, …) and
// their key IDs.
func fixtureMinistry(n int) ([]*Signer, []KeyID) {
	ss := make([]*Signer, n)
	ids := make([]KeyID, n)
	for i := range ss {
		ss[i] = fixtureSigner(byte(3 + i))
		ids[i] = ss[i].ID()
	}
	return ss, ids
}

// fixtureWorker is the pseudonym of a fixed, valid resident ID number.
var fixtureWorker = Pseudonym([]byte("fixture pepper"), "11010519491231002X")

func fixtureHash(s string) Hash { return taggedHash("jaminan/test/fixture", []byte(s)) }

// fixtureBodies returns one body of every record type with every field set, so that every
// integer key of every body is exercised.
func fixtureBodies() []Body {
	employer := fixtureSigner(2).ID()
	return []Body{
		&Contribution{
			Worker: fixtureWorker, Hukou: "11", Birth: 19491231, Sex: SexFemale,
			Employer: "91110000600037341L", Region: "110105", Period: 202401, Through: 202403,
			Scheme: SchemePension, Wage: 1200000, Base: 1000000, EmployeeAmount: 80000,
			EmployerAmount: 160000, Flexible: true, Evidence: []byte{0xe1, 0x02}, Approved: true,
			Enrolled: 20230115, LegacyEmployer: true,
		},
		&Employment{
			Worker: fixtureWorker, Employer: "91110000600037341L", Region: "110105",
			Start: 20230115, End: 20241231, Hukou: "11", Birth: 19491231, Sex: SexFemale,
		},
		&Correction{Target: fixtureHash("target"), Reason: ReasonWrongAmount, Replacement: []byte{0xa0}},
		&TransferApply{
			Worker: fixtureWorker, Scheme: SchemePension, From: "11", To: "44", Approved: true,
			Evidence: []byte("evidence"),
		},
		&TransferLetter{Case: fixtureHash("case")},
		&TransferOut{Case: fixtureHash("case"), Individual: 123456, Pooled: 654321},
		&TransferIn{Case: fixtureHash("case")},
		&TransferReject{Case: fixtureHash("case"), Reason: "incomplete record"},
		&ConsentGrant{Worker: fixtureWorker, Grantee: "91110000600037341L", Scope: "history", From: 20240101, Until: 20241231},
		&ConsentRevoke{Worker: fixtureWorker, Grant: fixtureHash("grant")},
		&WorkerKey{Worker: fixtureWorker, Key: fixtureSigner(9).ID(), Revoke: true},
		&Access{Worker: fixtureWorker, Reader: employer.String(), What: "history", Purpose: "hiring", Consent: fixtureHash("grant")},
		&PensionStart{Worker: fixtureWorker, Province: "44", Date: 20250301},
		&GovMember{Member: Member{ID: employer, Role: RoleEmployer, Region: "110105", Name: "Employer 甲", From: 1, Until: 2, Revoked: true}},
		&GovRevoke{Member: employer, Reason: "key compromised"},
		&GovParam{Param: Param{Name: ParamAvgWage, Scope: "11", Effective: 20240101, Value: 1204900}},
		&GovCalendar{Calendar: Calendar{Year: 2025, Holidays: []uint32{20250101, 20250128}, Workdays: []uint32{20250126}}},
	}
}

// fixtureMinimalBodies returns one body of every record type with only the fields that are
// always encoded, so that omitted fields round-trip too.
func fixtureMinimalBodies() []Body {
	return []Body{
		&Contribution{Worker: fixtureWorker, Hukou: "11", Birth: 19491231, Sex: SexMale, Region: "110105", Period: 202401, Scheme: SchemePension, Base: 1000000},
		&Employment{Worker: fixtureWorker, Employer: "91110000600037341L", Region: "110105", Start: 20230115},
		&Correction{Target: fixtureHash("target"), Reason: ReasonWithdrawn},
		&TransferApply{Worker: fixtureWorker, Scheme: SchemeMedical, From: "11", To: "44"},
		&TransferLetter{},
		&TransferOut{Case: fixtureHash("case")},
		&TransferIn{Case: fixtureHash("case")},
		&TransferReject{Case: fixtureHash("case")},
		&ConsentGrant{Worker: fixtureWorker, Grantee: "x", Scope: "account"},
		&ConsentRevoke{Worker: fixtureWorker},
		&WorkerKey{Worker: fixtureWorker, Key: fixtureSigner(9).ID()},
		&Access{Worker: fixtureWorker, Reader: "r", What: "account"},
		&PensionStart{Worker: fixtureWorker, Province: "44", Date: 20250301},
		&GovMember{Member: Member{ID: fixtureSigner(2).ID(), Role: RoleMinistry, Name: "m"}},
		&GovRevoke{Member: fixtureSigner(2).ID()},
		&GovParam{Param: Param{Name: ParamAvgWage, Effective: 20240101}},
		&GovCalendar{Calendar: Calendar{Year: 2025}},
	}
}

// fixtureRecords returns the three encoded records of the fixture block: a contribution by the
// producing bureau, an employment signed by the employer, and a transfer application.
func fixtureRecords(t testing.TB) [][]byte {
	t.Helper()
	producer, employer := fixtureSigner(1), fixtureSigner(2)
	bodies := fixtureBodies()
	contribution := NewRecord(producer.ID(), 1735689600000, bodies[0])
	contribution.Sign(fixtureNetwork, producer)
	employment := NewRecord(employer.ID(), 1735689600001, bodies[1])
	employment.Sign(fixtureNetwork, employer)
	apply := NewRecord(producer.ID(), 1735689600002, bodies[3])
	return [][]byte{contribution.Encode(), employment.Encode(), apply.Encode()}
}

// fixtureBlock returns the producer's first block over fixtureRecords.
func fixtureBlock(t testing.TB) *Block {
	t.Helper()
	b, err := BuildBlock(fixtureSigner(1), fixtureNetwork, nil, 1735689600100, fixtureRecords(t))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
