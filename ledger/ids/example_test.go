package ids_test

import (
	"errors"
	"fmt"

	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/ids"
)

func ExampleParseResidentID() {
	asOf := civil.MustDate(2025, 1, 1) // the record's effective date, never the clock
	id, err := ids.ParseResidentID(ids.NormaliseResidentID(" 11010519491231002x "), asOf)
	if err != nil {
		panic(err)
	}
	fmt.Println(id, id.Birth(), id.Male(), id.Province())

	_, err = ids.ParseResidentID("110105194912310021", asOf)
	var e *ids.Error
	if errors.As(err, &e) {
		fmt.Println(e.Rule, e.Reason)
	}
	// Output:
	// 11010519491231002X 1949-12-31 false 11
	// I1 checksum
}

func ExampleUpgradeLegacyID() {
	id, err := ids.UpgradeLegacyID("110105491231002", civil.MustDate(2025, 1, 1))
	fmt.Println(id, err)
	// Output: 11010519491231002X <nil>
}

func ExampleParseLegacyUSCC() {
	u, err := ids.ParseLegacyUSCC("91310115MA1H8R7C6D")
	fmt.Println(u, u.Legacy, u.RegionCode(), err)
	_, err = ids.ParseUSCC("91310115MA1H8R7C6D")
	fmt.Println(errors.Is(err, &ids.Error{Reason: ids.ReasonChecksum}))
	// Output:
	// 91310115MA1H8R7C6D true 310115 <nil>
	// true
}

func ExampleProvinceOf() {
	const corps = "66" // configured by genesis for the Xinjiang Production and Construction Corps
	fmt.Printf("%q %q %q\n", ids.ProvinceOf("440305"), ids.ProvinceOf("660000"), ids.ProvinceOf("660000", corps))
	// Output: "44" "" "66"
}
