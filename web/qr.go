package web

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// A statement goes into QR codes as a numbered series of text payloads
//
//	JAMINAN:<i>/<n>:<chunk>
//
// where the chunks, in order, are the standard base64 of the zlib-compressed canonical CBOR
// statement. One code holds at most QRChunk characters of it (a version ≈ 25 code at error
// correction level M, which phone cameras and printers handle well); a larger statement takes
// more codes. JoinQR takes the payloads in any order, concatenated with or without whitespace,
// and gives the statement bytes back: `jaminan verify` accepts that text as a file.

// QRPrefix starts every payload.
const QRPrefix = "JAMINAN:"

// QRChunk is the most base64 characters one code carries.
const QRChunk = 1000

// MaxQRCodes bounds a series; a statement that needs more is handed over as a file.
const MaxQRCodes = 60

// maxStatementBytes bounds what JoinQR inflates (ledger.DecodeStatement refuses more).
const maxStatementBytes = 16 << 20

// ErrTooManyCodes is returned by QRPayloads for a statement that needs more than MaxQRCodes.
var ErrTooManyCodes = errors.New("statement needs too many QR codes")

// QRPayloads splits a statement's bytes (canonical CBOR) into the payloads of its QR codes.
func QRPayloads(statement []byte) ([]string, error) {
	var z bytes.Buffer
	zw, err := zlib.NewWriterLevel(&z, zlib.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("compress statement: %w", err)
	}
	if _, err := zw.Write(statement); err != nil {
		return nil, fmt.Errorf("compress statement: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress statement: %w", err)
	}
	text := base64.StdEncoding.EncodeToString(z.Bytes())
	n := (len(text) + QRChunk - 1) / QRChunk
	if n > MaxQRCodes {
		return nil, fmt.Errorf("%w: %d codes for %d bytes, at most %d", ErrTooManyCodes, n, len(statement), MaxQRCodes)
	}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		chunk := text[i*QRChunk : min(len(text), (i+1)*QRChunk)]
		out = append(out, fmt.Sprintf("%s%d/%d:%s", QRPrefix, i+1, n, chunk))
	}
	return out, nil
}

// QRPNG renders one payload as a PNG QR code (error correction M, 4 pixels a module).
func QRPNG(payload string) ([]byte, error) {
	png, err := qrcode.Encode(payload, qrcode.Medium, -4)
	if err != nil {
		return nil, fmt.Errorf("render QR code: %w", err)
	}
	return png, nil
}

var qrHeader = regexp.MustCompile(`JAMINAN:(\d{1,4})/(\d{1,4}):`)

// IsQRText reports whether text looks like QR payloads of a statement.
func IsQRText(text string) bool { return strings.Contains(text, QRPrefix) }

// JoinQR reassembles the statement bytes from the payloads of its QR codes: every part 1..n of
// one series exactly once (a repeated identical part is accepted), in any order, separated by
// whitespace or nothing. A header can be found unambiguously because ':' is not a base64
// character: a part's chunk runs from its header to the next header.
func JoinQR(text string) ([]byte, error) {
	hs := qrHeader.FindAllStringSubmatchIndex(text, -1)
	if len(hs) == 0 {
		return nil, errors.New("no JAMINAN:i/n: QR payload found")
	}
	if strings.TrimSpace(text[:hs[0][0]]) != "" {
		return nil, fmt.Errorf("unexpected text %.20q before the QR payloads", text[:hs[0][0]])
	}
	total := 0
	parts := map[int]string{}
	for k, m := range hs {
		i, _ := strconv.Atoi(text[m[2]:m[3]])
		n, _ := strconv.Atoi(text[m[4]:m[5]])
		end := len(text)
		if k+1 < len(hs) {
			end = hs[k+1][0]
		}
		chunk := strings.Join(strings.Fields(text[m[1]:end]), "")
		if strings.Trim(chunk, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != "" {
			return nil, fmt.Errorf("QR payload %d/%d: not base64 text", i, n)
		}
		if n < 1 || n > MaxQRCodes || i < 1 || i > n {
			return nil, fmt.Errorf("QR payload %d/%d: out of range", i, n)
		}
		if total == 0 {
			total = n
		} else if n != total {
			return nil, fmt.Errorf("QR payloads of two series (%d and %d codes)", total, n)
		}
		if old, dup := parts[i]; dup && old != chunk {
			return nil, fmt.Errorf("QR payload %d/%d appears twice with different content", i, n)
		}
		parts[i] = chunk
	}
	var b strings.Builder
	for i := 1; i <= total; i++ {
		c, ok := parts[i]
		if !ok {
			return nil, fmt.Errorf("QR payload %d/%d is missing", i, total)
		}
		b.WriteString(c)
	}
	z, err := base64.StdEncoding.DecodeString(b.String())
	if err != nil {
		return nil, fmt.Errorf("QR payloads: %w", err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, fmt.Errorf("QR payloads: %w", err)
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, maxStatementBytes+1))
	if err != nil {
		return nil, fmt.Errorf("QR payloads: inflate: %w", err)
	}
	if len(out) > maxStatementBytes {
		return nil, fmt.Errorf("QR payloads: statement larger than %d bytes", maxStatementBytes)
	}
	return out, nil
}
