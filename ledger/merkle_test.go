package ledger

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// The reference below is RFC 6962 §2.1 / RFC 9162 §2.1.1 written as the recursive definitions,
// with no shared code: MTH splits at the largest power of two below n, PATH is the audit path.

func refLeaf(d []byte) Hash { return sha256.Sum256(append([]byte{0}, d...)) }

func refNode(l, r Hash) Hash {
	return sha256.Sum256(slices.Concat([]byte{1}, l[:], r[:]))
}

// refSplit returns the largest power of two smaller than n (n > 1).
func refSplit(n uint64) uint64 {
	k := uint64(1)
	for k < n-k { // 2k < n, without overflow
		k <<= 1
	}
	return k
}

func refMTH(d [][]byte) Hash {
	switch n := uint64(len(d)); n {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return refLeaf(d[0])
	default:
		k := refSplit(n)
		return refNode(refMTH(d[:k]), refMTH(d[k:]))
	}
}

// refPath returns PATH(m, D[n]), leaf-to-root order.
func refPath(m uint64, d [][]byte) []Hash {
	n := uint64(len(d))
	if n <= 1 {
		return nil
	}
	k := refSplit(n)
	if m < k {
		return append(refPath(m, d[:k]), refMTH(d[k:]))
	}
	return append(refPath(m-k, d[k:]), refMTH(d[:k]))
}

// refRootFromPath recomputes a root from a leaf hash and a leaf-to-root audit path by walking the
// same recursion; ok is false when the path length does not fit the tree shape.
func refRootFromPath(m, n uint64, leaf Hash, path []Hash) (Hash, bool) {
	if n == 0 || m >= n {
		return Hash{}, false
	}
	if n == 1 {
		return leaf, len(path) == 0
	}
	if len(path) == 0 {
		return Hash{}, false
	}
	last, rest := path[len(path)-1], path[:len(path)-1]
	k := refSplit(n)
	if m < k {
		sub, ok := refRootFromPath(m, k, leaf, rest)
		return refNode(sub, last), ok
	}
	sub, ok := refRootFromPath(m-k, n-k, leaf, rest)
	return refNode(last, sub), ok
}

func merkleData(n int) [][]byte {
	d := make([][]byte, n)
	for i := range d {
		d[i] = fmt.Appendf(nil, "leaf %d", i)
	}
	return d
}

func merkleLeaves(d [][]byte) []Hash {
	out := make([]Hash, len(d))
	for i, x := range d {
		out[i] = LeafHash(x)
	}
	return out
}

func TestMerkleMatchesReference(t *testing.T) {
	for n := 0; n <= 70; n++ {
		d := merkleData(n)
		leaves := merkleLeaves(d)
		orig := slices.Clone(leaves)
		root := MerkleRoot(leaves)
		if want := refMTH(d); root != want {
			t.Fatalf("size %d: root %s, reference %s", n, root, want)
		}
		if !slices.Equal(leaves, orig) {
			t.Fatalf("size %d: MerkleRoot modified its input", n)
		}
		for i := range n {
			p, err := BuildMerkleProof(leaves, i)
			if err != nil {
				t.Fatalf("size %d index %d: %v", n, i, err)
			}
			if p.Index != uint64(i) || p.Size != uint64(n) {
				t.Fatalf("size %d index %d: proof says index %d size %d", n, i, p.Index, p.Size)
			}
			if want := refPath(uint64(i), d); !slices.Equal(p.Path, want) {
				t.Fatalf("size %d index %d: path %v, reference %v", n, i, p.Path, want)
			}
			got, err := p.RootFromProof(leaves[i])
			if err != nil || got != root {
				t.Fatalf("size %d index %d: root from proof %s, %v; want %s", n, i, got, err, root)
			}
			if err := p.Verify(leaves[i], root); err != nil {
				t.Fatalf("size %d index %d: %v", n, i, err)
			}
		}
		if !slices.Equal(leaves, orig) {
			t.Fatalf("size %d: BuildMerkleProof modified its input", n)
		}
		for _, i := range []int{-1, n, n + 1} {
			if _, err := BuildMerkleProof(leaves, i); err == nil {
				t.Fatalf("size %d: proof of index %d built", n, i)
			}
		}
	}
}

func TestMerkleEmptyRoot(t *testing.T) {
	want := sha256.Sum256([]byte{})
	if got := MerkleRoot(nil); got != want {
		t.Fatalf("empty root %s, want SHA-256(\"\") %x", got, want)
	}
	if got := MerkleRoot([]Hash{}); got != want {
		t.Fatalf("empty root %s, want %x", got, want)
	}
}

// A proof verifies only for the leaf, index and path it was built for.
func TestMerkleProofTampered(t *testing.T) {
	for n := 1; n <= 70; n++ {
		d := merkleData(n)
		leaves := merkleLeaves(d)
		root := MerkleRoot(leaves)
		for i := range n {
			p, err := BuildMerkleProof(leaves, i)
			if err != nil {
				t.Fatal(err)
			}
			mustFail := func(what string, q MerkleProof, leaf Hash) {
				t.Helper()
				err := q.Verify(leaf, root)
				if err == nil {
					t.Fatalf("size %d index %d: %s verified", n, i, what)
				}
				if !errors.Is(err, ErrProof) {
					t.Fatalf("size %d index %d: %s: %v is not ErrProof", n, i, what, err)
				}
			}
			for j := range n {
				if j != i {
					q := p
					q.Index = uint64(j)
					mustFail(fmt.Sprintf("index %d", j), q, leaves[i])
					mustFail(fmt.Sprintf("leaf %d", j), p, leaves[j])
				}
			}
			for k := range p.Path {
				for _, at := range []int{0, 17, 31} {
					q := p
					q.Path = slices.Clone(p.Path)
					q.Path[k][at] ^= 0x01
					mustFail(fmt.Sprintf("path[%d] byte %d flipped", k, at), q, leaves[i])
				}
			}
			extra := fixtureHash("extra")
			mustFail("extra entry at the end", MerkleProof{p.Index, p.Size, append(slices.Clone(p.Path), extra)}, leaves[i])
			mustFail("extra entry at the start", MerkleProof{p.Index, p.Size, append([]Hash{extra}, p.Path...)}, leaves[i])
			if len(p.Path) > 0 {
				mustFail("last entry missing", MerkleProof{p.Index, p.Size, p.Path[:len(p.Path)-1]}, leaves[i])
				mustFail("first entry missing", MerkleProof{p.Index, p.Size, p.Path[1:]}, leaves[i])
			}
			mustFail("size 0", MerkleProof{p.Index, 0, p.Path}, leaves[i])
			mustFail("index = size", MerkleProof{p.Size, p.Size, p.Path}, leaves[i])
			mustFail("index beyond size", MerkleProof{p.Size + 7, p.Size, p.Path}, leaves[i])

			// A wrong size is caught when it changes the path's shape. An audit path does not
			// authenticate the size by itself (RFC 9162 binds it through the signed tree head),
			// so the verifier must agree with the reference on every size, and callers must
			// compare Size with the count the root was committed with (BlockHeader.Count).
			for m := uint64(1); m <= 72; m++ {
				if m == p.Size {
					continue
				}
				q := p
				q.Size = m
				got, err := q.RootFromProof(leaves[i])
				want, ok := refRootFromPath(q.Index, m, leaves[i], q.Path)
				if (err == nil) != ok || (ok && got != want) {
					t.Fatalf("size %d index %d as size %d: got %s, %v; reference %s, %v", n, i, m, got, err, want, ok)
				}
				if err == nil && got == root && len(refPath(q.Index, merkleData(int(m)))) != len(q.Path) {
					t.Fatalf("size %d index %d verified as size %d with a path of the wrong length", n, i, m)
				}
			}
		}
	}
}

// TestMerkleProofSizeNotAuthenticated documents the limitation above with the smallest case: the
// proof of leaf 0 of 3 also verifies as leaf 0 of 4, because both trees put leaf 0 under the same
// two siblings' positions.
func TestMerkleProofSizeNotAuthenticated(t *testing.T) {
	leaves := merkleLeaves(merkleData(3))
	p, err := BuildMerkleProof(leaves, 0)
	if err != nil {
		t.Fatal(err)
	}
	p.Size = 4
	if err := p.Verify(leaves[0], MerkleRoot(leaves)); err != nil {
		t.Fatalf("expected the size-3 proof to verify as size 4: %v", err)
	}
	p.Size = 5 // one more level: the path is now too short
	if err := p.Verify(leaves[0], MerkleRoot(leaves)); !errors.Is(err, ErrProof) {
		t.Fatalf("size 5: %v", err)
	}
}

func TestMerkleProofPathLimit(t *testing.T) {
	p := MerkleProof{Index: 0, Size: ^uint64(0), Path: make([]Hash, maxProofPath+1)}
	if _, err := p.RootFromProof(Hash{}); !errors.Is(err, ErrProof) {
		t.Fatalf("path of %d: %v", len(p.Path), err)
	}
	// The largest tree needs exactly 64 siblings for its first leaf.
	p.Path = p.Path[:maxProofPath]
	if _, err := p.RootFromProof(Hash{}); err != nil {
		t.Fatalf("path of %d for size 2^64-1: %v", len(p.Path), err)
	}
}

// Leaves and interior nodes are hashed under different prefixes, so 64 bytes equal to two child
// hashes, presented as a leaf, never hash to their parent (a second-preimage attack on the tree).
func TestMerkleLeafNodeSeparation(t *testing.T) {
	a, b := LeafHash([]byte("a")), LeafHash([]byte("b"))
	parent := MerkleRoot([]Hash{a, b})
	if want := sha256.Sum256(slices.Concat([]byte{1}, a[:], b[:])); parent != want {
		t.Fatalf("node hash %s, want SHA-256(0x01||a||b) %x", parent, want)
	}
	forged := slices.Concat(a[:], b[:])
	if LeafHash(forged) == parent {
		t.Fatal("a 64-byte leaf hashes to the interior node over its halves")
	}
	if want := sha256.Sum256(append([]byte{0}, forged...)); LeafHash(forged) != want {
		t.Fatalf("leaf hash %s, want SHA-256(0x00||data)", LeafHash(forged))
	}
	// The forged leaf cannot stand in for the pair in a bigger tree either.
	c := LeafHash([]byte("c"))
	if MerkleRoot([]Hash{a, b, c}) == MerkleRoot([]Hash{LeafHash(forged), c}) {
		t.Fatal("forged leaf reproduces the root")
	}
	// Nor can the 64 bytes be proved as a leaf at the node's position: a verifier that hashes
	// the data itself gets LeafHash(forged), not the node. (A verifier handed a bare leaf hash
	// could be shown the node as a leaf, which is why leaves are always hashed from their bytes.)
	p := MerkleProof{Index: 0, Size: 2, Path: []Hash{c}}
	if err := p.Verify(LeafHash(forged), MerkleRoot([]Hash{a, b, c})); err == nil {
		t.Fatal("64 bytes of child hashes proved as a leaf")
	}
	if bytes.Equal(a[:], b[:]) {
		t.Fatal("distinct leaves hash equal")
	}
}

func TestMerkleProofEncoding(t *testing.T) {
	leaves := merkleLeaves(merkleData(11))
	for i := range leaves {
		p, err := BuildMerkleProof(leaves, i)
		if err != nil {
			t.Fatal(err)
		}
		b := encode(p)
		var q MerkleProof
		if err := decodeCanonical(b, &q); err != nil {
			t.Fatalf("index %d: %v", i, err)
		}
		if q.Index != p.Index || q.Size != p.Size || !slices.Equal(q.Path, p.Path) {
			t.Fatalf("index %d: decoded %+v, want %+v", i, q, p)
		}
	}
}
