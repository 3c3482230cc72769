// Package ids parses and validates the identifiers the ledger keys its records on (DOMAIN rules
// I1–I3):
//
//   - I1: the 18-character resident ID number of GB 11643-1999 ([ResidentID]), which is also the
//     social security number, with the explicit import path for legacy 15-digit numbers
//     ([UpgradeLegacyID]);
//   - I2: the unified social credit code of GB 32100-2015 that identifies employers ([USCC]);
//   - I3: province-level region codes and 6-digit division codes of GB/T 2260 ([IsProvince],
//     [IsDivisionCode], [ProvinceOf]).
//
// Everything here is pure: no clock, no files, no network, no randomness. Where "now" matters
// (a birth date may not lie in the future) the caller passes the date explicitly, normally the
// effective date of the record being validated, so every replica reaches the same verdict.
//
// Parsers return a *[Error] carrying the rule ("I1", "I2", "I3") and a machine-readable reason
// ([ReasonFormat], [ReasonProvince], [ReasonBirthdate], [ReasonChecksum]) so that a rejected record
// can say precisely why.
//
// Parsers are strict about the shape of their input: they do not trim white space. Text typed by
// people should go through [NormaliseResidentID] or [NormaliseUSCC] first.
package ids
