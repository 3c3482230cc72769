package web

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestQRPayloadsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 500, 3000, 20000} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.IntN(256))
		}
		parts, err := QRPayloads(data)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range parts {
			if !strings.HasPrefix(p, QRPrefix) || len(p) > len(QRPrefix)+10+QRChunk {
				t.Fatalf("part %d: %.40q (%d characters)", i, p, len(p))
			}
		}
		rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
		for _, sep := range []string{"\n", "", " \t\r\n"} {
			got, err := JoinQR(strings.Join(parts, sep))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%d bytes, %d parts, separator %q: %v", n, len(parts), sep, err)
			}
		}
	}
}

func TestJoinQRRefuses(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 3000) // incompressible: more than one code
	for i := range data {
		data[i] = byte(rng.IntN(256))
	}
	parts, err := QRPayloads(data)
	if err != nil || len(parts) < 2 {
		t.Fatalf("%d parts, %v", len(parts), err)
	}
	cases := map[string]string{
		"nothing":       "hello",
		"missing part":  strings.Join(parts[1:], "\n"),
		"two series":    parts[0] + "\n" + strings.Replace(parts[1], "/"+itoa(len(parts))+":", "/9:", 1),
		"junk before":   "x " + strings.Join(parts, "\n"),
		"junk inside":   parts[0] + " !!! " + strings.Join(parts[1:], "\n"),
		"conflicting":   strings.Join(parts, "\n") + "\n" + parts[0][:len(parts[0])-4] + "AAAA",
		"out of range":  strings.Replace(parts[0], "1/", "0/", 1),
		"not zlib data": "JAMINAN:1/1:aGVsbG8=",
	}
	for name, text := range cases {
		if _, err := JoinQR(text); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func TestQRPNGDeterministic(t *testing.T) {
	a, err := QRPNG("JAMINAN:1/1:AAAA")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := QRPNG("JAMINAN:1/1:AAAA")
	c, _ := QRPNG("JAMINAN:1/1:AAAB")
	if !bytes.Equal(a, b) || bytes.Equal(a, c) || !bytes.HasPrefix(a, []byte("\x89PNG")) {
		t.Fatal("QR rendering is not a deterministic PNG of its payload")
	}
}
