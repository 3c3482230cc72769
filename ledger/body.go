package ledger

// Body is the typed content of a record.
type Body interface {
	RecordType() RecordType
}

// Sex codes as in GB/T 2261.1 (the 17th character of the resident ID gives it).
const (
	SexMale   uint8 = 1
	SexFemale uint8 = 2
)

// Schemes of social insurance.
const (
	SchemePension      = "pension"
	SchemeMedical      = "medical"
	SchemeUnemployment = "unemployment"
	SchemeInjury       = "injury"
)

// Contribution is one month (or, for a back payment, a run of months) of contributions for one
// worker in one scheme, uploaded by the bureau that collected it. Base and amounts are derived by
// the rules (DOMAIN C1–C2); the ledger recomputes them and rejects a mismatch. Amounts are per month.
type Contribution struct {
	Worker         WorkerID `cbor:"1,keyasint"`
	Hukou          string   `cbor:"2,keyasint"`           // current hukou province, 2 digits
	Birth          uint32   `cbor:"3,keyasint"`           // YYYYMMDD, from the resident ID
	Sex            uint8    `cbor:"4,keyasint"`           // SexMale or SexFemale
	Employer       string   `cbor:"5,keyasint,omitempty"` // USCC; empty for people insured as individuals
	Region         string   `cbor:"6,keyasint"`           // 6-digit division code of the collecting agency
	Period         uint32   `cbor:"7,keyasint"`           // YYYYMM
	Through        uint32   `cbor:"8,keyasint,omitempty"` // YYYYMM; a back payment covering Period..Through
	Scheme         string   `cbor:"9,keyasint"`
	Wage           int64    `cbor:"10,keyasint,omitempty"` // fen; employees
	Base           int64    `cbor:"11,keyasint"`           // fen
	EmployeeAmount int64    `cbor:"12,keyasint,omitempty"` // fen per month
	EmployerAmount int64    `cbor:"13,keyasint,omitempty"` // fen per month
	Flexible       bool     `cbor:"14,keyasint,omitempty"` // insured as an individual
	Evidence       []byte   `cbor:"15,keyasint,omitempty"` // hash of evidence (T2 approval, T6 back payment)
	Approved       bool     `cbor:"16,keyasint,omitempty"` // T2 exception: approved transfer of the relation
	Enrolled       uint32   `cbor:"17,keyasint,omitempty"` // YYYYMMDD enrolment date, when known
	LegacyEmployer bool     `cbor:"18,keyasint,omitempty"` // employer code imported under the legacy rule (I2)
}

// Employment declares the start (and optionally the end) of a worker's employment, signed by the
// employer or entered by its bureau.
type Employment struct {
	Worker   WorkerID `cbor:"1,keyasint"`
	Employer string   `cbor:"2,keyasint"`
	Region   string   `cbor:"3,keyasint"`
	Start    uint32   `cbor:"4,keyasint"`           // YYYYMMDD
	End      uint32   `cbor:"5,keyasint,omitempty"` // YYYYMMDD
	Hukou    string   `cbor:"6,keyasint,omitempty"`
	Birth    uint32   `cbor:"7,keyasint,omitempty"`
	Sex      uint8    `cbor:"8,keyasint,omitempty"`
}

// Correction amends an earlier record; the original stays in history. Replacement is the canonical
// body of a record of the same type as the target.
type Correction struct {
	Target      Hash   `cbor:"1,keyasint"`
	Reason      string `cbor:"2,keyasint"`
	Replacement []byte `cbor:"3,keyasint,omitempty"` // empty: the target is withdrawn
}

// Correction reason codes.
const (
	ReasonWrongAmount   = "wrong_amount"
	ReasonWrongPeriod   = "wrong_period"
	ReasonWrongEmployer = "wrong_employer"
	ReasonWrongWorker   = "wrong_worker"
	ReasonDuplicate     = "duplicate"
	ReasonWithdrawn     = "withdrawn"
)

// TransferApply opens a cross-province transfer case at the new place (DOMAIN T4). The case token
// is this record's ID.
type TransferApply struct {
	Worker   WorkerID `cbor:"1,keyasint"`
	Scheme   string   `cbor:"2,keyasint"` // pension or medical
	From     string   `cbor:"3,keyasint"` // old province
	To       string   `cbor:"4,keyasint"` // new province
	Approved bool     `cbor:"5,keyasint,omitempty"`
	Evidence []byte   `cbor:"6,keyasint,omitempty"` // back-payment evidence for T6
}

// TransferLetter records the contact letter sent by the new place to the old one.
type TransferLetter struct {
	Case Hash `cbor:"1,keyasint"`
}

// TransferOut records that the old place transferred the funds and the record. The amounts, when
// given, are checked against the ledger's own computation (DOMAIN T1).
type TransferOut struct {
	Case       Hash  `cbor:"1,keyasint"`
	Individual int64 `cbor:"2,keyasint,omitempty"`
	Pooled     int64 `cbor:"3,keyasint,omitempty"`
}

// TransferIn records that the new place completed the transfer.
type TransferIn struct {
	Case Hash `cbor:"1,keyasint"`
}

// TransferReject ends a case with a written reason.
type TransferReject struct {
	Case   Hash   `cbor:"1,keyasint"`
	Reason string `cbor:"2,keyasint"`
}

// ConsentGrant lets a grantee (an employer's USCC or a member's key ID text) read the worker's
// history between From and Until (YYYYMMDD, inclusive; Until 0 = until revoked).
type ConsentGrant struct {
	Worker  WorkerID `cbor:"1,keyasint"`
	Grantee string   `cbor:"2,keyasint"`
	Scope   string   `cbor:"3,keyasint"` // "history" or "account"
	From    uint32   `cbor:"4,keyasint"`
	Until   uint32   `cbor:"5,keyasint,omitempty"`
}

// ConsentRevoke withdraws a grant, named by the grant record's ID.
type ConsentRevoke struct {
	Worker WorkerID `cbor:"1,keyasint"`
	Grant  Hash     `cbor:"2,keyasint"`
}

// WorkerKey registers (or, with Revoke, withdraws) a worker's personal ed25519 key, after the
// bureau checked the worker's identity.
type WorkerKey struct {
	Worker WorkerID `cbor:"1,keyasint"`
	Key    KeyID    `cbor:"2,keyasint"`
	Revoke bool     `cbor:"3,keyasint,omitempty"`
}

// Access logs a read of a worker's data by someone other than the worker's own bureau operator.
type Access struct {
	Worker  WorkerID `cbor:"1,keyasint"`
	Reader  string   `cbor:"2,keyasint"` // key ID text or USCC of whoever read
	What    string   `cbor:"3,keyasint"` // e.g. "account", "statement", "history"
	Purpose string   `cbor:"4,keyasint,omitempty"`
	Consent Hash     `cbor:"5,keyasint,omitempty"` // the grant relied on, if any
}

// PensionStart records that a worker started drawing a pension; no transfer is possible after it.
type PensionStart struct {
	Worker   WorkerID `cbor:"1,keyasint"`
	Province string   `cbor:"2,keyasint"`
	Date     uint32   `cbor:"3,keyasint"`
}

// GovMember admits a member or updates one (role, region, name, validity window). Signed by a
// majority of the ministry set.
type GovMember struct {
	Member Member `cbor:"1,keyasint"`
}

// GovRevoke revokes a member. Signed by a majority of the ministry set.
type GovRevoke struct {
	Member KeyID  `cbor:"1,keyasint"`
	Reason string `cbor:"2,keyasint"`
}

// GovParam sets a rule parameter from an effective date. Signed by a majority of the ministry set.
type GovParam struct {
	Param Param `cbor:"1,keyasint"`
}

// GovCalendar sets one year's working-day calendar. Signed by a majority of the ministry set.
type GovCalendar struct {
	Calendar Calendar `cbor:"1,keyasint"`
}

func (*Contribution) RecordType() RecordType   { return TypeContribution }
func (*Employment) RecordType() RecordType     { return TypeEmployment }
func (*Correction) RecordType() RecordType     { return TypeCorrection }
func (*TransferApply) RecordType() RecordType  { return TypeTransferApply }
func (*TransferLetter) RecordType() RecordType { return TypeTransferLetter }
func (*TransferOut) RecordType() RecordType    { return TypeTransferOut }
func (*TransferIn) RecordType() RecordType     { return TypeTransferIn }
func (*TransferReject) RecordType() RecordType { return TypeTransferReject }
func (*ConsentGrant) RecordType() RecordType   { return TypeConsentGrant }
func (*ConsentRevoke) RecordType() RecordType  { return TypeConsentRevoke }
func (*WorkerKey) RecordType() RecordType      { return TypeWorkerKey }
func (*Access) RecordType() RecordType         { return TypeAccess }
func (*PensionStart) RecordType() RecordType   { return TypePensionStart }
func (*GovMember) RecordType() RecordType      { return TypeGovMember }
func (*GovRevoke) RecordType() RecordType      { return TypeGovRevoke }
func (*GovParam) RecordType() RecordType       { return TypeGovParam }
func (*GovCalendar) RecordType() RecordType    { return TypeGovCalendar }

var bodyTypes = map[RecordType]func() Body{
	TypeContribution:   func() Body { return new(Contribution) },
	TypeEmployment:     func() Body { return new(Employment) },
	TypeCorrection:     func() Body { return new(Correction) },
	TypeTransferApply:  func() Body { return new(TransferApply) },
	TypeTransferLetter: func() Body { return new(TransferLetter) },
	TypeTransferOut:    func() Body { return new(TransferOut) },
	TypeTransferIn:     func() Body { return new(TransferIn) },
	TypeTransferReject: func() Body { return new(TransferReject) },
	TypeConsentGrant:   func() Body { return new(ConsentGrant) },
	TypeConsentRevoke:  func() Body { return new(ConsentRevoke) },
	TypeWorkerKey:      func() Body { return new(WorkerKey) },
	TypeAccess:         func() Body { return new(Access) },
	TypePensionStart:   func() Body { return new(PensionStart) },
	TypeGovMember:      func() Body { return new(GovMember) },
	TypeGovRevoke:      func() Body { return new(GovRevoke) },
	TypeGovParam:       func() Body { return new(GovParam) },
	TypeGovCalendar:    func() Body { return new(GovCalendar) },
}

// RecordTypes lists every record type, sorted.
func RecordTypes() []RecordType {
	return []RecordType{TypeAccess, TypeConsentGrant, TypeConsentRevoke, TypeContribution, TypeCorrection,
		TypeEmployment, TypeGovCalendar, TypeGovMember, TypeGovParam, TypeGovRevoke, TypePensionStart,
		TypeTransferApply, TypeTransferIn, TypeTransferLetter, TypeTransferOut, TypeTransferReject, TypeWorkerKey}
}
