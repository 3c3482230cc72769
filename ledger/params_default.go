package ledger

// DefaultParams returns the rule parameters of the first jurisdiction (China) as a devnet or a new
// network starts with them. Average wages are illustrative monthly figures per province for
// 2016–2026 and must be replaced by the published ones in a real genesis; rates and deadlines are
// those of DOMAIN.md.
func DefaultParams() []Param {
	const from = 20000101
	ps := []Param{
		{Name: ParamBaseFloorPct, Effective: from, Value: 60},
		{Name: ParamBaseCeilPct, Effective: from, Value: 300},
		{Name: ParamPensionEmployee, Effective: from, Value: 800},
		{Name: ParamPensionEmployer, Effective: from, Value: 1600},
		{Name: ParamPensionIndivPF, Effective: from, Value: 1200},
		{Name: ParamMedicalEmployee, Effective: from, Value: 200},
		{Name: ParamMedicalEmployer, Effective: from, Value: 700},
		{Name: ParamUnempEmployee, Effective: from, Value: 50},
		{Name: ParamUnempEmployer, Effective: from, Value: 50},
		{Name: ParamInjuryEmployer, Effective: from, Value: 40},
		{Name: ParamPooledBP, Effective: 19980101, Value: 1200},
		{Name: ParamPooledFrom, Effective: 19980101, Value: 199801},
		{Name: ParamTempMenAge, Effective: 20100101, Value: 50},
		{Name: ParamTempWomenAge, Effective: 20100101, Value: 40},
		{Name: ParamBenefitMonths, Effective: 20100101, Value: 120},
		{Name: ParamLetterDays, Effective: 20100101, Value: 15},
		{Name: ParamOutDays, Effective: 20100101, Value: 15},
		{Name: ParamInDays, Effective: 20100101, Value: 15},
		{Name: ParamMedLetterDays, Effective: 20210101, Value: 5},
		{Name: ParamMedOutDays, Effective: 20210101, Value: 10},
		{Name: ParamMedInDays, Effective: 20210101, Value: 5},
		{Name: ParamBackpayMonths, Effective: 20160101, Value: 36},
		{Name: ParamNoticeDays, Effective: 20190101, Value: 10},
		{Name: ParamMedicalGap, Effective: 20210101, Value: 3},
		{Name: ParamMaxWage, Effective: from, Value: 100_000_000},
		// Published individual-account crediting rates (DOMAIN C3), bp.
		{Name: ParamCreditingRate, Effective: 20160101, Value: 831},
		{Name: ParamCreditingRate, Effective: 20170101, Value: 712},
		{Name: ParamCreditingRate, Effective: 20180101, Value: 829},
		{Name: ParamCreditingRate, Effective: 20190101, Value: 761},
		{Name: ParamCreditingRate, Effective: 20200101, Value: 604},
		{Name: ParamCreditingRate, Effective: 20210101, Value: 669},
		{Name: ParamCreditingRate, Effective: 20220101, Value: 612},
		{Name: ParamCreditingRate, Effective: 20230101, Value: 397},
		{Name: ParamCreditingRate, Effective: 20240101, Value: 262},
	}
	// Illustrative average monthly wages (fen) per province, one version per year.
	avg := map[string]int64{"11": 1_100_000, "33": 800_000, "44": 850_000, "51": 700_000}
	for _, prov := range []string{"11", "33", "44", "51"} {
		for y := uint32(1995); y <= 2026; y++ {
			v := avg[prov] * int64(60+(y-1995)*40/31) / 100
			ps = append(ps, Param{Name: ParamAvgWage, Scope: prov, Effective: y*10000 + 101, Value: v / 100 * 100})
		}
	}
	return ps
}
