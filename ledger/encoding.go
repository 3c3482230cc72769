package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// ErrEncoding is returned (wrapped) by every decoder of untrusted bytes when the input is not the
// canonical encoding of a value of the expected shape: malformed CBOR, unknown or duplicate fields,
// non-shortest forms, unsorted maps, trailing bytes, or limits exceeded.
var ErrEncoding = errors.New("invalid encoding")

// Decoder limits. They bound the memory an attacker can make a decoder allocate before size limits
// on whole objects are checked.
const (
	maxNested        = 8
	maxArrayElements = 1 << 17
	maxMapPairs      = 64
)

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	eo := cbor.CoreDetEncOptions() // RFC 8949 §4.2.1: shortest forms, sorted map keys, definite lengths
	eo.Time = cbor.TimeUnix
	eo.NilContainers = cbor.NilContainerAsEmpty // nil and empty lists have one form
	var err error
	if encMode, err = eo.EncMode(); err != nil {
		panic(err)
	}
	do := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   maxNested + 8,
		MaxArrayElements:  maxArrayElements,
		MaxMapPairs:       maxMapPairs,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
		IntDec:            cbor.IntDecConvertNone,
	}
	if decMode, err = do.DecMode(); err != nil {
		panic(err)
	}
}

// encode returns the canonical encoding of v. Values of this package always encode; a failure is
// a programming error.
func encode(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("ledger: encode %T: %v", v, err))
	}
	return b
}

// decodeCanonical decodes b into v and checks that b is exactly the canonical encoding of the
// decoded value, so that every value has one byte form and hashes and signatures cannot be
// malleated by re-encoding.
func decodeCanonical(b []byte, v any) error {
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %T: %v", ErrEncoding, v, err)
	}
	re, err := encMode.Marshal(reflect.ValueOf(v).Elem().Interface())
	if err != nil {
		return fmt.Errorf("%w: %T: re-encode: %v", ErrEncoding, v, err)
	}
	if !bytes.Equal(re, b) {
		return fmt.Errorf("%w: %T: not in canonical form", ErrEncoding, v)
	}
	return nil
}
