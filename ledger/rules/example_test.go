package rules_test

import (
	"fmt"

	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/rules"
)

func ExampleLimits() {
	// Parameters: average wage 7,123 yuan, floor 60%, ceiling 300%.
	l, err := rules.Limits(712300, 60, 300)
	if err != nil {
		panic(err)
	}
	fmt.Println(l.Floor, l.Ceiling, rules.Base(300000, l))
	// Output: 427400 2136900 427400
}

func ExampleYearInterest() {
	// 10,000.00 opening balance and 800.00 credited in each month of 2023, at 3.97%.
	var items []rules.MonthlyAmount
	for m := 1; m <= 12; m++ {
		items = append(items, rules.MonthlyAmount{Month: m, Amount: 80000})
	}
	w, _ := rules.Weighted(items)
	interest, _ := rules.YearInterest(1000000, w, 397)
	fmt.Println(interest)
	// Output: 57168
}

func ExamplePooledPart() {
	// 1997-07..1998-06 at a base of 1,000.00; only 1998-01 on counts, at 12%.
	var months []rules.PooledMonth
	for p := civil.MustPeriod(1997, 7); p.Compare(civil.MustPeriod(1998, 6)) <= 0; p = p.Add(1) {
		months = append(months, rules.PooledMonth{Period: p, Base: 100000, EmployerBP: 2000})
	}
	pf, _ := rules.PooledPart(months, civil.MustPeriod(1998, 1), 1200, false, false)
	total, _ := rules.TransferAmount(500000, pf)
	fmt.Println(pf, total)
	// Output: 72000 572000
}

func ExampleCalendars_AddWorkingDays() {
	cals := rules.Calendars{{
		Year:     2024,
		Holidays: []civil.Date{civil.MustDate(2024, 4, 4), civil.MustDate(2024, 4, 5), civil.MustDate(2024, 4, 6)},
		Workdays: []civil.Date{civil.MustDate(2024, 4, 7)},
	}}
	fmt.Println(cals.AddWorkingDays(civil.MustDate(2024, 3, 4), 15))
	fmt.Println(cals.AddWorkingDays(civil.MustDate(2024, 4, 3), 1))
	// Output:
	// 2024-03-25
	// 2024-04-07
}

func ExampleBenefitPlace() {
	stints := []rules.Stint{{Province: "44", Months: 144}, {Province: "33", Months: 60}}
	fmt.Println(rules.BenefitPlace("51", stints, 120))
	// Output: 44
}
