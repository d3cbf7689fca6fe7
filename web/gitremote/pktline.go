package gitremote

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// writePkt appends s to b as one pkt-line: four hex digits of length, then
// the data.
func writePkt(b *bytes.Buffer, s string) {
	fmt.Fprintf(b, "%04x%s", len(s)+4, s)
}

// readCommands reads the command list at the start of a receive-pack
// request: the names of the refs to update and the capabilities the client
// asked for on the first line.
func readCommands(r io.Reader) (refs []string, caps map[string]bool, err error) {
	br := bufio.NewReader(r)
	caps = map[string]bool{}
	for first := true; ; first = false {
		var hdr [4]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, nil, fmt.Errorf("read pkt-line length: %w", err)
		}
		n, err := strconv.ParseUint(string(hdr[:]), 16, 16)
		if err != nil {
			return nil, nil, fmt.Errorf("bad pkt-line length %q", hdr[:])
		}
		if n == 0 {
			return refs, caps, nil
		}
		if n < 4 {
			return nil, nil, fmt.Errorf("bad pkt-line length %d", n)
		}
		line := make([]byte, n-4)
		if _, err := io.ReadFull(br, line); err != nil {
			return nil, nil, fmt.Errorf("read pkt-line: %w", err)
		}
		text := strings.TrimSuffix(string(line), "\n")
		if first {
			var capList string
			text, capList, _ = strings.Cut(text, "\x00")
			for _, c := range strings.Fields(capList) {
				caps[c] = true
			}
		}
		if strings.HasPrefix(text, "shallow ") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 3 {
			return nil, nil, fmt.Errorf("not a push command: %q", text)
		}
		refs = append(refs, fields[2])
	}
}

// rejectReport is what git receive-pack answers when it refuses every ref:
// the message on the progress band, then the status report ("unpack" and
// one "ng" per ref), multiplexed on band 1 when the client asked for a side
// band, as it always does.
func rejectReport(refs []string, caps map[string]bool, reason, message string) []byte {
	var report bytes.Buffer
	writePkt(&report, "unpack "+reason+"\n")
	for _, ref := range refs {
		writePkt(&report, "ng "+ref+" "+reason+"\n")
	}
	report.WriteString("0000")
	max := 0
	switch {
	case caps["side-band-64k"]:
		max = 65520 - 5
	case caps["side-band"]:
		max = 1000 - 5
	default:
		return report.Bytes()
	}
	var out bytes.Buffer
	band := func(n byte, data []byte) {
		for len(data) > 0 {
			chunk := data[:min(len(data), max)]
			data = data[len(chunk):]
			writePkt(&out, string(append([]byte{n}, chunk...)))
		}
	}
	band(2, []byte(message))
	band(1, report.Bytes())
	out.WriteString("0000")
	return out.Bytes()
}
