package intake

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits on what one submission may hold.
const (
	MaxLine    = 16 << 10 // one JSON line or CSV row
	MaxRecords = 100_000  // records in one JSON batch
)

// DecodeBatch reads the body of POST /v1/records: {"records":[…]}. Unknown fields are errors, so a
// misspelt field is reported instead of silently dropped.
func DecodeBatch(r io.Reader) ([]Input, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var body struct {
		Records []Input `json:"records"`
	}
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("decode records: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decode records: trailing data after the JSON object")
	}
	if len(body.Records) > MaxRecords {
		return nil, fmt.Errorf("decode records: %d records, at most %d per request", len(body.Records), MaxRecords)
	}
	return body.Records, nil
}

// decodeLine decodes one JSON object strictly.
func decodeLine(b []byte) (*Input, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var in Input
	if err := dec.Decode(&in); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	return &in, nil
}

// ReadLines reads JSON lines, calling fn with each record's 1-based line number and either the
// record or why it could not be read; blank lines are skipped. fn's error stops the read.
func ReadLines(r io.Reader, fn func(line int, in *Input, err error) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		in, err := decodeLine(b)
		if err := fn(line, in, err); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read line %d: %w", line+1, err)
	}
	return nil
}

// ReadCSV reads CSV with a header row naming the JSON fields (a correction's replacement in
// columns prefixed "record."), calling fn with each row's 1-based line number. Empty cells are
// absent fields.
func ReadCSV(r io.Reader, fn func(line int, in *Input, err error) error) error {
	cr := csv.NewReader(io.LimitReader(r, 1<<40))
	cr.ReuseRecord = false
	cr.FieldsPerRecord = 0
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("read CSV header: %w", err)
	}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, ok := csvSetters[strings.TrimPrefix(h, "record.")]; !ok {
			return fmt.Errorf("read CSV header: unknown column %q", truncate(h))
		}
		header[i] = h
	}
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var line int
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) || !errors.Is(pe.Err, csv.ErrFieldCount) {
				return fmt.Errorf("read CSV: %w", err)
			}
			line = pe.Line
			if err := fn(line, nil, err); err != nil {
				return err
			}
			continue
		}
		line, _ = cr.FieldPos(0)
		size := 0
		for _, c := range row {
			size += len(c)
		}
		if size > MaxLine {
			if err := fn(line, nil, fmt.Errorf("row of %d bytes exceeds %d", size, MaxLine)); err != nil {
				return err
			}
			continue
		}
		in, err := fromRow(header, row)
		if err := fn(line, in, err); err != nil {
			return err
		}
	}
}

func fromRow(header, row []string) (*Input, error) {
	in := &Input{}
	for i, h := range header {
		v := strings.TrimSpace(row[i])
		if v == "" {
			continue
		}
		target := in
		name := h
		if rest, ok := strings.CutPrefix(h, "record."); ok {
			if in.Record == nil {
				in.Record = &Input{Type: "contribution"}
			}
			target, name = in.Record, rest
		}
		if err := csvSetters[name](target, v); err != nil {
			return nil, fmt.Errorf("column %s: %w", h, err)
		}
	}
	return in, nil
}

var csvSetters = map[string]func(in *Input, v string) error{
	"type":            func(in *Input, v string) error { in.Type = v; return nil },
	"worker_id":       func(in *Input, v string) error { in.WorkerID = v; return nil },
	"hukou":           func(in *Input, v string) error { in.Hukou = v; return nil },
	"employer":        func(in *Input, v string) error { in.Employer = v; return nil },
	"region":          func(in *Input, v string) error { in.Region = v; return nil },
	"period":          func(in *Input, v string) error { in.Period = v; return nil },
	"through":         func(in *Input, v string) error { in.Through = v; return nil },
	"scheme":          func(in *Input, v string) error { in.Scheme = v; return nil },
	"wage":            func(in *Input, v string) error { return parseInt(&in.Wage, v) },
	"base":            func(in *Input, v string) error { return parseInt(&in.Base, v) },
	"employee_amount": func(in *Input, v string) error { return parseInt(&in.EmployeeAmount, v) },
	"employer_amount": func(in *Input, v string) error { return parseInt(&in.EmployerAmount, v) },
	"flexible":        func(in *Input, v string) error { return parseBool(&in.Flexible, v) },
	"evidence":        func(in *Input, v string) error { in.Evidence = v; return nil },
	"approved":        func(in *Input, v string) error { return parseBool(&in.Approved, v) },
	"enrolled":        func(in *Input, v string) error { in.Enrolled = v; return nil },
	"legacy_employer": func(in *Input, v string) error { return parseBool(&in.LegacyEmployer, v) },
	"start":           func(in *Input, v string) error { in.Start = v; return nil },
	"end":             func(in *Input, v string) error { in.End = &v; return nil },
	"target":          func(in *Input, v string) error { in.Target = v; return nil },
	"reason":          func(in *Input, v string) error { in.Reason = v; return nil },
}

func parseInt(p **int64, v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a whole number of fen", truncate(v))
	}
	*p = &n
	return nil
}

func parseBool(p *bool, v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%q is not true or false", truncate(v))
	}
	*p = b
	return nil
}
