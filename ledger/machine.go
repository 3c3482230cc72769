package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/rules"
)

// Receipt codes. "ok" accepts; every other code rejects the record, which stays in history.
// Rule codes (I2, C1, T4 …) name the DOMAIN.md rule that was broken.
const (
	CodeOK          = "ok"
	CodeFormat      = "format"      // undecodable or invalid fields
	CodeDuplicate   = "dup"         // the record ID was already applied
	CodeAuth        = "auth"        // missing or invalid signature
	CodeMember      = "member"      // author or producer unknown, revoked or expired
	CodeRole        = "role"        // author may not write this record
	CodeBlock       = "block"       // the block carrying the record is invalid
	CodeState       = "state"       // refers to something that does not exist or is in the wrong state
	CodeParam       = "param"       // no parameter in force for the rule
	CodeConsent     = "consent"     // consent rule broken
	CodeCorrection  = "correction"  // correction rule broken
	CodeGov         = "gov"         // governance quorum or content
	CodeUnsupported = "unsupported" // a valid record type this version does not apply yet
)

// Receipt is the outcome of applying one record.
type Receipt struct {
	ID      Hash   `cbor:"1,keyasint" json:"id"`
	Code    string `cbor:"2,keyasint" json:"code"`
	Message string `cbor:"-" json:"message,omitempty"` // for people; not hashed
}

// receiptLeaf is the hashed part of a receipt.
type receiptLeaf struct {
	ID   Hash   `cbor:"1,keyasint"`
	Code string `cbor:"2,keyasint"`
}

// LeafBytes returns the bytes a receipt contributes to the receipts root.
func (r Receipt) LeafBytes() []byte { return fastEncode(&receiptLeaf{r.ID, r.Code}) }

// leafHash is LeafHash(r.LeafBytes()), encoded on the stack when the code is of usual length.
func (r Receipt) leafHash() Hash {
	var buf [128]byte
	l := receiptLeaf{r.ID, r.Code}
	return LeafHash(l.appendCBOR(buf[:0]))
}

// ReceiptsRoot returns the Merkle root over receipts in application order.
func ReceiptsRoot(rs []Receipt) Hash { return MerkleRoot(receiptLeaves(rs)) }

// receiptLeaves returns the Merkle leaves of a checkpoint's receipts.
func receiptLeaves(rs []Receipt) []Hash {
	leaves := make([]Hash, len(rs))
	for i, r := range rs {
		leaves[i] = r.leafHash()
	}
	return leaves
}

// StateRoot chains one checkpoint onto the previous root:
// H("jaminan/v1/state" || 0x00 || prev root || checkpoint hash || receipts root || writes digest).
func StateRoot(prev, checkpoint, receipts, writes Hash) Hash {
	return taggedHash(tagState, prev[:], checkpoint[:], receipts[:], writes[:])
}

// Meta is the machine's position: the last applied checkpoint.
type Meta struct {
	Seq        uint64 `cbor:"1,keyasint" json:"seq"`
	Checkpoint Hash   `cbor:"2,keyasint" json:"checkpoint"` // genesis hash before checkpoint 1
	StateRoot  Hash   `cbor:"3,keyasint" json:"state_root"` // genesis hash before checkpoint 1
	Time       uint64 `cbor:"4,keyasint" json:"time"`
}

// Result is what applying one checkpoint produced. The caller commits Writes atomically.
type Result struct {
	Seq          uint64
	PrevRoot     Hash // state root before this checkpoint
	Checkpoint   Hash
	Receipts     []Receipt
	ReceiptsRoot Hash
	WritesDigest Hash
	StateRoot    Hash
	Writes       []Write
	BlockCounts  []int // receipts per block, in checkpoint order

	bufs *txnBufs // the buffers Release hands back to m
	m    *Machine
}

// ErrApply is returned (wrapped) when a checkpoint cannot be applied at all: it does not follow the
// last applied one, its blocks do not match it, or the state could not be read. Nothing is written.
var ErrApply = errors.New("cannot apply checkpoint")

// Machine applies checkpoints. It holds only constants of the network, and the governance
// tables it decoded last; all state is read through the StateReader passed to Apply, so the
// same machine serves a node, replay and verification, concurrently.
type Machine struct {
	network     string
	genesisHash Hash
	extra       []string
	utcOffset   int

	mu   sync.Mutex
	last *tables // the tables decoded last, kept to skip decoding them again

	spare sync.Pool // *txnBufs of released results
}

// tables are the governance tables of a state (registry, parameters, calendars), decoded, with
// the bytes they were decoded from. A state whose tables are those bytes exactly gets the same
// values without decoding them again (the parameters are 162 versions by default, decoded by
// reflection and indexed: about 0.1 ms, once per checkpoint). Cached tables are never changed:
// Apply changes copies of the registry and calendar lists, and Params is immutable.
type tables struct {
	raw      [3][]byte
	registry []Member
	params   *Params
	calList  []Calendar
	cals     rules.Calendars
}

// tableKeys are the state keys of the tables, in the order of tables.raw.
var tableKeys = [3][]byte{keyRegistry, keyParams, keyCalendars}

// decodeTables decodes the tables from their bytes.
func decodeTables(raw [3][]byte) (*tables, error) {
	tb := &tables{raw: raw}
	var ps []Param
	for i, v := range []any{&tb.registry, &ps, &tb.calList} {
		if err := decMode.Unmarshal(raw[i], v); err != nil {
			return nil, fmt.Errorf("%w: decode %s: %w", ErrApply, tableKeys[i], err)
		}
	}
	tb.params = NewParams(ps)
	tb.cals = toRulesCalendars(tb.calList)
	return tb, nil
}

// tables returns the tables decoded from raw, from the cache when raw is what it holds.
func (m *Machine) tables(raw [3][]byte) (*tables, error) {
	m.mu.Lock()
	last := m.last
	m.mu.Unlock()
	if last != nil && bytes.Equal(last.raw[0], raw[0]) && bytes.Equal(last.raw[1], raw[1]) && bytes.Equal(last.raw[2], raw[2]) {
		return last, nil
	}
	for i := range raw {
		raw[i] = bytes.Clone(raw[i]) // the state may reuse the bytes it returned
	}
	tb, err := decodeTables(raw)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.last = tb
	m.mu.Unlock()
	return tb, nil
}

// NewMachine returns the state machine of the network founded by g.
func NewMachine(g *Genesis) *Machine {
	return &Machine{network: g.Network, genesisHash: g.Hash(), extra: slices.Clone(g.ExtraRegions), utcOffset: int(g.UTCOffset)}
}

// Network returns the network name.
func (m *Machine) Network() string { return m.network }

// GenesisWrites returns the initial state: registry, parameters, calendars and the meta record.
func GenesisWrites(g *Genesis) []Write {
	h := g.Hash()
	return []Write{
		{Key: keyRegistry, Value: encode(g.Members)},
		{Key: keyParams, Value: encode(g.Params)},
		{Key: keyCalendars, Value: encode(g.Calendars)},
		{Key: keyMeta, Value: encode(Meta{Checkpoint: h, StateRoot: h, Time: g.Time})},
	}
}

// ReadMeta returns the last applied position.
func ReadMeta(st StateReader) (Meta, error) {
	m, ok, err := readObj[Meta](st, keyMeta)
	if err != nil {
		return Meta{}, fmt.Errorf("read meta: %w", err)
	}
	if !ok {
		return Meta{}, fmt.Errorf("read meta: %w: state not initialised from genesis", ErrApply)
	}
	return *m, nil
}

// ctx is the per-checkpoint context of Apply.
type ctx struct {
	m        *Machine
	accepted AcceptedFunc // told of accepted records (ApplyObserved), or nil
	t        *txn
	seq      uint64
	time     uint64
	today    civil.Date
	registry []Member
	params   *Params
	cals     rules.Calendars
	producer KeyID
	regDirty bool
	parDirty bool
	calDirty bool
	calList  []Calendar

	scratch      []byte // encoding buffer of put
	terms        map[termsKey]*terms
	lastTerms    *terms // the terms contribTerms returned last, for lastTermsKey
	lastTermsKey termsKey
	crRates      *creditRates // crediting rates by year, built on first use
	recTot       totals       // the current record's change to the totals
	recPools     []poolDelta  // the current record's changes to pooled funds
	refBuf       []byte       // the current record's contribRef
	wsBuf        workerState  // applyContribution's worker and account (scratchWorker)
	accBuf       account
	ck           contribKeys // the current contribution's keys, from its prepared record

	win *window // the records being applied, allocated by the first block

	lastMember *Member     // the member member() found last; nil whenever the registry changes
	lastUSCC   string      // the employer code applyContribution found valid last
	rkH        uint64      // the hash of the current record's key
	strs       strCache    // the strings that repeat across the checkpoint's records
	cpTot      totals      // accepted records' changes in this checkpoint
	cpPools    []poolDelta // accepted records' changes to pooled funds, one per fund
}

// Apply applies checkpoint cb, whose blocks are given in the checkpoint's order, to the state st.
// It never fails because of a record's content: such records get rejection receipts. It fails
// (with ErrApply) only when the checkpoint itself does not fit the state.
func (m *Machine) Apply(st StateReader, cb *CheckpointBody, blocks []*Block) (*Result, error) {
	return m.ApplyObserved(st, cb, blocks, nil)
}

// AcceptedFunc is told of each record Apply accepts: its position in the checkpoint (the
// receipt's index) and its body as Apply decoded it. The body is valid only during the call
// (Apply reuses it); the function must not modify it.
type AcceptedFunc func(ord int, rec *Record, body Body)

// ApplyObserved is Apply, telling accepted (if not nil) of every record it accepts, in order,
// so that a caller indexing the accepted records need not decode them again.
func (m *Machine) ApplyObserved(st StateReader, cb *CheckpointBody, blocks []*Block, accepted AcceptedFunc) (*Result, error) {
	meta, err := ReadMeta(st)
	if err != nil {
		return nil, err
	}
	cp := &cb.Checkpoint
	if err := cb.Verify(m.network); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrApply, err)
	}
	if cp.Seq != meta.Seq+1 || cp.Prev != meta.Checkpoint {
		return nil, fmt.Errorf("%w: checkpoint %d (prev %s) does not follow %d (%s)", ErrApply, cp.Seq, cp.Prev.String()[:12], meta.Seq, meta.Checkpoint.String()[:12])
	}
	if len(blocks) != len(cb.Blocks) {
		return nil, fmt.Errorf("%w: checkpoint %d lists %d blocks, %d given", ErrApply, cp.Seq, len(cb.Blocks), len(blocks))
	}
	for i, b := range blocks {
		if b.Hash() != cb.Blocks[i] {
			return nil, fmt.Errorf("%w: checkpoint %d block %d is not %s", ErrApply, cp.Seq, i, cb.Blocks[i])
		}
	}
	n := 0
	for _, b := range blocks {
		n += len(b.Records)
	}
	// Contributions, the bulk, write about four keys each.
	spare, _ := m.spare.Get().(*txnBufs)
	c := &ctx{m: m, t: newTxn(st, 4*n+16, spare), seq: cp.Seq, time: max(cp.Time, meta.Time), accepted: accepted}
	c.today = civil.DateOfUnixMilli(int64(c.time), m.utcOffset)
	if err := c.load(); err != nil {
		return nil, err
	}
	var receipts []Receipt
	if spare != nil && cap(spare.receipts) >= n {
		receipts = spare.receipts[:0]
	} else {
		receipts = make([]Receipt, 0, n)
	}
	counts := make([]int, len(blocks))
	for i, b := range blocks {
		before := len(receipts)
		receipts = c.applyBlock(b, receipts)
		counts[i] = len(receipts) - before
		if c.t.err != nil {
			return nil, fmt.Errorf("%w: read state: %w", ErrApply, c.t.err)
		}
	}
	c.flushTables()
	res := &Result{Seq: cp.Seq, PrevRoot: meta.StateRoot, Checkpoint: cp.Hash(), Receipts: receipts, ReceiptsRoot: ReceiptsRoot(receipts), WritesDigest: c.t.digest(), BlockCounts: counts}
	res.StateRoot = StateRoot(meta.StateRoot, res.Checkpoint, res.ReceiptsRoot, res.WritesDigest)
	c.t.set(keyMeta, encode(Meta{Seq: cp.Seq, Checkpoint: res.Checkpoint, StateRoot: res.StateRoot, Time: c.time}))
	c.t.commitRecord()
	res.Writes = c.t.cpLog
	res.bufs, res.m = c.t.bufs(), m
	return res, nil
}

// Release hands the result's buffers (its writes, the bytes of their keys and values, and its
// receipts) to the machine for a later Apply, which then allocates none of them: about 0.8 MB
// per 1,000 contributions, each fresh page of which costs a fault. Call it once nothing reads the
// result any more, for example when its writes are committed to a state that copied them; the
// result must not be used afterwards. Not calling it is correct too.
func (r *Result) Release() {
	if r == nil || r.bufs == nil {
		return
	}
	b := r.bufs
	b.receipts = r.Receipts
	m := r.m
	r.bufs, r.m, r.Writes, r.Receipts = nil, nil, nil, nil
	m.spare.Put(b)
}

func (c *ctx) load() error {
	var raw [3][]byte
	for i, key := range tableKeys {
		v, ok := c.t.get(key)
		if c.t.err != nil {
			return fmt.Errorf("%w: read state: %w", ErrApply, c.t.err)
		}
		if !ok {
			return fmt.Errorf("%w: state has no %s", ErrApply, key)
		}
		raw[i] = v
	}
	tb, err := c.m.tables(raw)
	if err != nil {
		return err
	}
	// Governance records change the registry and calendar lists in place: copies.
	c.registry, c.params = slices.Clone(tb.registry), tb.params
	c.calList, c.cals = slices.Clone(tb.calList), tb.cals
	return nil
}

// flushTables writes back the governance tables, totals and pooled funds changed in this
// checkpoint, pooled funds in key order.
func (c *ctx) flushTables() {
	if c.cpTot != (totals{}) {
		t, _ := getObj[totals](c, keyTotals)
		t.add(c.cpTot)
		c.put(keyTotals, t)
	}
	type pool struct {
		key   []byte
		delta int64
	}
	pools := make([]pool, 0, len(c.cpPools))
	for _, d := range c.cpPools {
		pools = append(pools, pool{keyPool(d.key.prov, d.key.scheme), d.delta})
	}
	slices.SortFunc(pools, func(a, b pool) int { return bytes.Compare(a.key, b.key) })
	for _, p := range pools {
		v, _ := getObj[poolBalance](c, p.key)
		*v += poolBalance(p.delta)
		c.put(p.key, v)
	}
	if c.regDirty {
		c.t.set(keyRegistry, encode(c.registry))
	}
	if c.parDirty {
		c.t.set(keyParams, encode(c.params.List()))
	}
	if c.calDirty {
		c.t.set(keyCalendars, encode(c.calList))
	}
	c.t.commitRecord()
}

// searchMember finds id in the registry, sorted by ID.
func searchMember(reg []Member, id KeyID) (int, bool) {
	return slices.BinarySearchFunc(reg, id, func(m Member, id KeyID) int { return strings.Compare(string(m.ID), string(id)) })
}

func (c *ctx) member(id KeyID) *Member {
	if c.lastMember != nil && c.lastMember.ID == id {
		return c.lastMember // a block's records mostly share their author
	}
	i, ok := searchMember(c.registry, id)
	if !ok {
		return nil
	}
	c.lastMember = &c.registry[i]
	return c.lastMember
}

func (c *ctx) activeMember(id KeyID) *Member {
	if m := c.member(id); m != nil && m.ActiveAt(c.time) {
		return m
	}
	return nil
}

// ministrySet returns the active ministry members' IDs, sorted.
func (c *ctx) ministrySet() []KeyID {
	var out []KeyID
	for i := range c.registry {
		if m := &c.registry[i]; m.Role == RoleMinistry && m.ActiveAt(c.time) {
			out = append(out, m.ID)
		}
	}
	return out
}

// Registry returns the member registry in the state, sorted by ID.
func Registry(st StateReader) ([]Member, error) {
	raw, ok, err := st.Get(keyRegistry)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("state has no %s", keyRegistry)
	}
	var reg []Member
	if err := decMode.Unmarshal(raw, &reg); err != nil {
		return nil, fmt.Errorf("decode %s: %w", keyRegistry, err)
	}
	return reg, nil
}

// MinistrySet returns the ministry members active at time t in the state's registry.
// It decodes the registry only: the transport asks for every connection.
func MinistrySet(st StateReader, t uint64) ([]KeyID, error) {
	raw, ok, err := st.Get(keyRegistry)
	if err != nil {
		return nil, fmt.Errorf("%w: read state: %w", ErrApply, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: state has no %s", ErrApply, keyRegistry)
	}
	c := &ctx{time: t}
	if err := decMode.Unmarshal(raw, &c.registry); err != nil {
		return nil, fmt.Errorf("%w: decode %s: %w", ErrApply, keyRegistry, err)
	}
	return c.ministrySet(), nil
}

type chainTip struct {
	Height uint64 `cbor:"1,keyasint"`
	Hash   Hash   `cbor:"2,keyasint"`
}

// applyBlock checks the block and applies its records, appending their receipts.
func (c *ctx) applyBlock(b *Block, receipts []Receipt) []Receipt {
	reject := func(msg string) []Receipt {
		for _, raw := range b.Records {
			id := rawRecordID(raw)
			receipts = append(receipts, Receipt{ID: id, Code: CodeBlock, Message: msg})
		}
		return receipts
	}
	if err := b.verifyOnce(c.m.network); err != nil {
		return reject(err.Error())
	}
	h := &b.Header
	prod := c.activeMember(h.Producer)
	if prod == nil {
		return reject("producer is not an active member")
	}
	if prod.Role != RoleBureau && prod.Role != RoleMinistry {
		return reject("producer role " + prod.Role + " may not produce blocks")
	}
	var tip chainTip
	tipKey := keyTip(h.Producer)
	if raw, ok := c.t.get(tipKey); ok {
		if !fastDecode(raw, &tip) {
			panic(fmt.Sprintf("ledger: corrupt chain tip of %s: %x", h.Producer, raw))
		}
	}
	if h.Height != tip.Height+1 || h.Prev != tip.Hash {
		return reject(fmt.Sprintf("block height %d does not follow the producer's last block %d", h.Height, tip.Height))
	}
	c.put(tipKey, &chainTip{Height: h.Height, Hash: b.Hash()})
	c.t.commitRecord()
	c.producer = h.Producer
	if c.win == nil {
		c.win = new(window)
	}
	for recs := b.Records; len(recs) > 0; {
		n := min(len(recs), applyWindow)
		c.prepareWindow(recs[:n])
		for i := range n {
			p := &c.win.recs[i]
			r := c.applyPrepared(p)
			if c.accepted != nil && r.Code == CodeOK {
				c.accepted(len(receipts), &p.rec, p.body)
			}
			receipts = append(receipts, r)
		}
		recs = recs[n:]
	}
	return receipts
}

// applyWindow is how many records are decoded, and their keys loaded, ahead of being applied.
const applyWindow = 32

// window holds the records prepared ahead of being applied.
type window struct {
	recs   [applyWindow]prepared
	bodies [applyWindow]Contribution // their bodies, when contributions
	hashes []uint64                  // the hashes of their keys
}

// prepared is a record decoded ahead of its turn, with the keys it will read. Nothing in it
// depends on the state, so preparing records early cannot change what they do.
type prepared struct {
	raw  []byte
	rec  Record
	body Body
	err  error // the record does not decode
	id   Hash
	rk   []byte // its record state's key, and the key's hash
	rkH  uint64
	ck   contribKeys // a contribution's keys
}

// prepareWindow decodes records and builds and hashes their keys into c.win, then loads those
// keys' slots into cache (txn.prefetch) all at once: the cache misses of a window's look-ups,
// which would otherwise come one after another, overlap.
func (c *ctx) prepareWindow(recs [][]byte) {
	w := c.win
	hs := w.hashes[:0]
	for i, raw := range recs {
		p := &w.recs[i]
		*p = prepared{raw: raw}
		p.rec, p.body, p.err = c.decodeRecord(raw, &w.bodies[i])
		if p.err != nil {
			continue
		}
		p.id = recordID(&p.rec, raw)
		p.rk = c.keyRecord(p.id)
		p.rkH = c.t.hash(p.rk)
		hs = append(hs, p.rkH)
		if k, ok := p.body.(*Contribution); ok {
			p.ck = c.contribKeys(k, c.province(k.Region))
			hs = append(hs, p.ck.hWorker, p.ck.hAccount, p.ck.hMonth)
		}
	}
	c.t.prefetch(hs...)
	w.hashes = hs
}

// recordID is rec.ID() without re-encoding when the record carries no signatures: its canonical
// bytes are then exactly the unsigned form.
func recordID(rec *Record, raw []byte) Hash {
	if len(rec.Sigs) == 0 {
		return taggedHash(tagRecord, raw)
	}
	return rec.ID()
}

// RecordIDOf returns the ID of the record encoded in raw, which must be a record's canonical
// encoding. An unsigned record's ID is the tagged hash of raw itself, computed without encoding
// the record again.
func RecordIDOf(raw []byte) (Hash, error) {
	r, _, err := DecodeRecord(raw)
	if err != nil {
		return Hash{}, err
	}
	return recordID(&r, raw), nil
}

// rawRecordID names bytes that do not decode as a record.
func rawRecordID(raw []byte) Hash {
	r, _, err := DecodeRecord(raw)
	if err != nil {
		return taggedHash(tagRawRecord, raw)
	}
	return r.ID()
}

// recordState is kept per applied record ID: duplicate detection, receipt lookup, corrections.
type recordState struct {
	Seq       uint64     `cbor:"1,keyasint"`
	Code      string     `cbor:"2,keyasint"`
	Type      RecordType `cbor:"3,keyasint"`
	Author    KeyID      `cbor:"4,keyasint"`
	Ref       []byte     `cbor:"5,keyasint,omitempty"` // contribRef, for records a correction may reverse
	Corrected bool       `cbor:"6,keyasint,omitempty"`
}

// contribRef is what a correction needs of the contribution it reverses, which is where its
// months are; the amounts are in the months themselves:
// worker (32) || scheme byte || len(province) || province || period (4) || through (4, 0: none).
// It is kept instead of the whole body, a sixth of the size.
type contribRef struct {
	Worker          WorkerID
	Scheme, Prov    string
	Period, Through uint32
}

func (c *ctx) contribRefOf(k *Contribution) []byte {
	prov := c.province(k.Region)
	b := c.refBuf[:0] // copied when the record state is encoded
	b = append(b, k.Worker[:]...)
	b = append(b, schemeByte(k.Scheme), byte(len(prov)))
	b = append(b, prov...)
	b = binary.BigEndian.AppendUint32(b, k.Period)
	c.refBuf = binary.BigEndian.AppendUint32(b, k.Through)
	return c.refBuf
}

func parseContribRef(b []byte) (contribRef, bool) {
	var r contribRef
	if len(b) < 34 || len(b) != 34+int(b[33])+8 {
		return r, false
	}
	copy(r.Worker[:], b)
	r.Scheme = schemeOfByte(b[32])
	n := int(b[33])
	r.Prov = string(b[34 : 34+n])
	r.Period = binary.BigEndian.Uint32(b[34+n:])
	r.Through = binary.BigEndian.Uint32(b[38+n:])
	return r, r.Scheme != ""
}

// rejection is a record rejected with a code.
type rejection struct{ code, msg string }

func (r *rejection) Error() string { return r.code + ": " + r.msg }

func reject(code, format string, args ...any) error {
	return &rejection{code: code, msg: fmt.Sprintf(format, args...)}
}

// applyPrepared applies one prepared record in its own nested transaction and returns its
// receipt.
func (c *ctx) applyPrepared(p *prepared) Receipt {
	if p.err != nil {
		id := taggedHash(tagRawRecord, p.raw)
		return c.finish(id, keyRecord(id), nil, nil, reject(CodeFormat, "%v", p.err))
	}
	c.rkH, c.ck = p.rkH, p.ck
	if _, dup := c.t.getH(p.rk, p.rkH); dup {
		return Receipt{ID: p.id, Code: CodeDuplicate, Message: "record already applied"}
	}
	err := c.authorise(&p.rec, p.body)
	if err == nil {
		err = c.dispatch(p.id, &p.rec, p.body)
	}
	return c.finish(p.id, p.rk, &p.rec, p.body, err)
}

// decodeRecord is DecodeRecord with a contribution's body decoded into k, a value reused window
// after window (nothing keeps a body past its record), and the repeated strings of contribution
// and employment records shared.
func (c *ctx) decodeRecord(raw []byte, k *Contribution) (Record, Body, error) {
	if r, k, ok := decodeRecordInto(raw, k, &c.strs); ok {
		return r, k, nil
	}
	if r, e, ok := decodeEmploymentFast(raw, &c.strs); ok {
		return r, e, nil
	}
	return decodeRecordGeneral(raw)
}

// finish commits or drops the record's writes and records its outcome.
func (c *ctx) finish(id Hash, rk []byte, rec *Record, body Body, err error) Receipt {
	r := Receipt{ID: id, Code: CodeOK}
	if err == nil {
		c.cpTot.add(c.recTot)
		for _, d := range c.recPools {
			c.cpPools = addPoolDelta(c.cpPools, d)
		}
	}
	c.recTot = totals{}
	c.recPools = c.recPools[:0]
	if err != nil {
		c.t.dropRecord()
		var rj *rejection
		if !errors.As(err, &rj) {
			rj = &rejection{code: CodeFormat, msg: err.Error()}
		}
		r.Code, r.Message = rj.code, rj.msg
	}
	rs := recordState{Seq: c.seq, Code: r.Code}
	if rec != nil {
		rs.Type, rs.Author = rec.Type, rec.Author
		if r.Code == CodeOK {
			switch b := body.(type) {
			case *Contribution:
				rs.Ref = c.contribRefOf(b)
			case *Correction:
				if len(b.Replacement) != 0 {
					k, _ := DecodeBody(TypeContribution, b.Replacement) // decoded once already
					rs.Ref = c.contribRefOf(k.(*Contribution))
				}
			}
		}
	}
	c.scratch = rs.appendCBOR(c.scratch[:0])
	h := c.rkH
	if rec == nil { // an undecodable record: its key was not prepared
		h = c.t.hash(rk)
	}
	c.putScratchH(rk, h)
	c.t.commitRecord()
	return r
}

func (c *ctx) getRecordState(id Hash) (recordState, bool) {
	rs, ok := getObj[recordState](c, keyRecord(id))
	return *rs, ok
}

// RecordStatus returns the receipt code and checkpoint of an applied record.
func RecordStatus(st StateReader, id Hash) (code string, seq uint64, ok bool, err error) {
	rs, ok, err := readObj[recordState](st, keyRecord(id))
	if err != nil || !ok {
		return "", 0, false, err
	}
	return rs.Code, rs.Seq, true, nil
}

// readObj reads and decodes the state object at key for queries outside Apply; ok is false when
// the key is absent.
func readObj[T any](st StateReader, key []byte) (*T, bool, error) {
	raw, ok, err := st.Get(key)
	if err != nil || !ok {
		return nil, false, err
	}
	v, err := decodeObj[T](raw)
	if err != nil {
		return nil, false, fmt.Errorf("decode state object %x: %w", key, err)
	}
	return v, true, nil
}

// decodeObj decodes a state object, with its hand-written codec when it has one.
func decodeObj[T any](raw []byte) (*T, error) {
	v := new(T)
	if f, ok := any(v).(fastObj); ok && fastDecode(raw, f) {
		return v, nil
	}
	v = new(T)
	if err := decMode.Unmarshal(raw, v); err != nil {
		return nil, err
	}
	return v, nil
}

// getObj reads and decodes a state object; corrupt state is a bug, not input.
func getObj[T any](c *ctx, key []byte) (*T, bool) {
	raw, ok := c.t.get(key)
	if !ok {
		return new(T), false
	}
	v, err := decodeObj[T](raw)
	if err != nil {
		panic(fmt.Sprintf("ledger: corrupt state at %x: %v", key, err))
	}
	return v, true
}

// putScratchH writes the value encoded in c.scratch at key, whose hash is h (txn.hash). Callers
// encode with the concrete type's appendCBOR, so that the value need not escape to the heap as
// it does through put's interface.
func (c *ctx) putScratchH(key []byte, h uint64) { c.t.setH(key, c.t.values.copy(c.scratch), h) }

// put writes a state object, with its hand-written codec when it has one.
func (c *ctx) put(key []byte, v any) {
	if f, ok := v.(fastObj); ok {
		c.scratch = f.appendCBOR(c.scratch[:0])
		c.t.set(key, c.t.values.copy(c.scratch))
		return
	}
	c.t.set(key, encode(v))
}
