package fnlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
)

// A sealed segment (one no longer written) gets an index beside it,
// NAME.idx, so a text search reads only the parts of the segment that can
// hold the text. The segment is cut into blocks of about indexBlock bytes
// on line boundaries; each block has a Bloom filter of the trigrams (3
// consecutive bytes) of its lines' texts. A text of three bytes or more is
// in a line only if each of its trigrams is in the line's block's filter,
// so the blocks whose filters miss one of them are skipped, and the ones
// left are scanned exactly as without an index: the results are the same,
// only fewer bytes are read. Shorter texts scan everything.
//
// The filters are stored bit-sliced: for each of the filter's m bits, one
// bitmap over the blocks. A search reads two slices per trigram (k = 2
// hashes) and ANDs them, a few dozen bytes per segment, instead of every
// block's filter.
//
// The index is derived data. The segment stays the source of truth: an
// index is written to a temporary file and renamed, checked (size, header,
// CRC-32C) before use, ignored when missing or wrong, and then built
// again in the background. It covers the segment's first Covered bytes;
// anything after them is scanned.
//
// Layout, little-endian:
//
//	magic [8]byte "SBFIDX1\n"
//	covered uint64   bytes of the segment indexed (complete lines)
//	m uint32         filter bits per block, a power of two
//	blocks uint32
//	print uint32     CRC-32C of the indexed bytes' first and last 4 KiB: the segment it is of
//	offsets [blocks+1]uint64   block starts; the last is covered
//	slices [m][sliceBytes]byte  sliceBytes = (blocks+7)/8; bit b of slice i: block b's filter has bit i
//	crc uint32       CRC-32C of everything before it
const (
	indexMagic     = "SBFIDX1\n"
	indexHeader    = 8 + 8 + 4 + 4 + 4
	indexBlock     = 64 << 10
	indexMaxBlocks = 4096    // larger segments get larger blocks
	indexMinBits   = 1 << 10 // filter bits per block, at least
	indexMaxBits   = 1 << 16 // at most: the index is then ≤ 1/8 of the segment
)

// crc32c is CRC-32C (Castagnoli): hardware-assisted on amd64 and arm64.
// MakeTable returns the package's one Castagnoli table after its first
// call.
func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// trigramHashes returns the two filter bits of trigram t in a filter of
// m bits (m a power of two).
func trigramHashes(t uint32, m uint32) (uint32, uint32) {
	h := uint64(t) * 0x9E3779B97F4A7C15
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 32
	return uint32(h) & (m - 1), uint32(h>>32) & (m - 1)
}

// forTrigrams calls f with each trigram of text.
func forTrigrams(text []byte, f func(t uint32)) {
	for i := 0; i+3 <= len(text); i++ {
		f(uint32(text[i])<<16 | uint32(text[i+1])<<8 | uint32(text[i+2]))
	}
}

// lineText is the part of the line at data[off:] a search looks in: what
// follows its third tab (a record's text; a malformed line, which the
// scan skips, may index a little more, which costs only bits), and where
// the next line starts.
func lineText(data []byte, off int) (text []byte, end int) {
	nl := bytes.IndexByte(data[off:], '\n')
	if nl < 0 {
		nl = len(data) - off
	}
	line := data[off : off+nl]
	for range 3 {
		t := bytes.IndexByte(line, '\t')
		if t < 0 {
			break
		}
		line = line[t+1:]
	}
	return line, off + nl + 1
}

// blockStarts cuts data (complete lines) into blocks of about size bytes
// on line boundaries; the last offset is len(data).
func blockStarts(data []byte, size int) []uint64 {
	offs := []uint64{0}
	for p := 0; p < len(data); {
		next := lineStartFrom(data, min(p+size, len(data)))
		if next <= p {
			next = len(data)
		}
		offs = append(offs, uint64(next))
		p = next
	}
	if len(data) == 0 {
		offs = append(offs, 0)
	}
	return offs
}

// buildIndex computes the index of data, a segment's complete lines. Its
// memory is the index itself (at most indexMaxBits/8 bytes a block and
// indexMaxBlocks blocks: 1/8 of a segment, 32 MiB at most; about 1/30 for
// ordinary logs), one block's filter and, for sizing, a 2 MiB trigram set.
func buildIndex(data []byte) []byte {
	size := max(indexBlock, (len(data)+indexMaxBlocks-1)/indexMaxBlocks)
	offs := blockStarts(data, size)
	blocks := len(offs) - 1

	// The filters' size: from the most distinct trigrams in up to 16
	// blocks spread over the segment (m ≥ 4 bits per trigram: each
	// trigram a text has and a block lacks passes the filter with a
	// chance of about 15 % or less). A block with more trigrams than the
	// sampled ones gets more false positives, never a false negative.
	seen := make([]uint64, 1<<24/64)
	var touched []uint32
	most := 0
	step := max(1, blocks/16)
	for b := 0; b < blocks; b += step {
		n := 0
		for p := int(offs[b]); p < int(offs[b+1]); {
			text, end := lineText(data, p)
			for i := 2; i < len(text); i++ {
				t := uint32(text[i-2])<<16 | uint32(text[i-1])<<8 | uint32(text[i])
				if seen[t/64]&(1<<(t%64)) == 0 {
					seen[t/64] |= 1 << (t % 64)
					touched = append(touched, t)
					n++
				}
			}
			p = end
		}
		most = max(most, n)
		for _, t := range touched {
			seen[t/64] = 0
		}
		touched = touched[:0]
	}
	m := uint32(indexMinBits)
	for int(m) < 4*most && m < indexMaxBits {
		m <<= 1
	}

	sliceBytes := (blocks + 7) / 8
	head := indexHeader + 8*len(offs)
	out := make([]byte, head+int(m)*sliceBytes+4)
	copy(out, indexMagic)
	binary.LittleEndian.PutUint64(out[8:], uint64(len(data)))
	binary.LittleEndian.PutUint32(out[16:], m)
	binary.LittleEndian.PutUint32(out[20:], uint32(blocks))
	binary.LittleEndian.PutUint32(out[24:], fingerprint(data))
	for i, o := range offs {
		binary.LittleEndian.PutUint64(out[indexHeader+8*i:], o)
	}
	// Each block's filter is set in a small bitmap that stays in the
	// CPU's cache, then its bits are copied into the slices.
	slices := out[head : len(out)-4]
	filter := make([]uint64, m/64)
	for b := range blocks {
		clear(filter)
		for p := int(offs[b]); p < int(offs[b+1]); {
			text, end := lineText(data, p)
			for i := 2; i < len(text); i++ {
				h1, h2 := trigramHashes(uint32(text[i-2])<<16|uint32(text[i-1])<<8|uint32(text[i]), m)
				filter[h1/64] |= 1 << (h1 % 64)
				filter[h2/64] |= 1 << (h2 % 64)
			}
			p = end
		}
		byteOff, bit := b/8, byte(1)<<(b%8)
		for w, word := range filter {
			for word != 0 {
				i := w*64 + bits.TrailingZeros64(word)
				word &= word - 1
				slices[i*sliceBytes+byteOff] |= bit
			}
		}
	}
	binary.LittleEndian.PutUint32(out[len(out)-4:], crc32c(out[:len(out)-4]))
	return out
}

// fingerprint ties an index to the bytes it indexed, cheaply: an index
// of another segment, or of another version of this one, does not match.
func fingerprint(data []byte) uint32 {
	const n = 4 << 10
	c := crc32c(data[:min(n, len(data))])
	return crc32.Update(c, crc32.MakeTable(crc32.Castagnoli), data[max(0, len(data)-n):])
}

// segIndex is a checked index, read in place.
type segIndex struct {
	covered    int
	m          uint32
	offs       []byte // (blocks+1) little-endian uint64s
	blocks     int
	sliceBytes int
	slices     []byte
}

var errBadIndex = errors.New("function logs: index does not match its segment")

// parseIndex checks an index's shape against the segment's complete
// lines and reads its header; with verify it also checks its CRC, which
// reads all of it.
func parseIndex(b, data []byte, verify bool) (*segIndex, error) {
	if len(b) < indexHeader+16+4 || string(b[:8]) != indexMagic {
		return nil, errBadIndex
	}
	ix := &segIndex{
		covered: int(binary.LittleEndian.Uint64(b[8:])),
		m:       binary.LittleEndian.Uint32(b[16:]),
		blocks:  int(binary.LittleEndian.Uint32(b[20:])),
	}
	if ix.covered > len(data) || binary.LittleEndian.Uint32(b[24:]) != fingerprint(data[:ix.covered]) || ix.m < indexMinBits || ix.m > indexMaxBits || bits.OnesCount32(ix.m) != 1 || ix.blocks < 1 || ix.blocks > 1<<24 {
		return nil, errBadIndex
	}
	ix.sliceBytes = (ix.blocks + 7) / 8
	head := indexHeader + 8*(ix.blocks+1)
	if len(b) != head+int(ix.m)*ix.sliceBytes+4 {
		return nil, errBadIndex
	}
	ix.offs = b[indexHeader:head]
	ix.slices = b[head : len(b)-4]
	if ix.off(0) != 0 || ix.off(ix.blocks) != ix.covered {
		return nil, errBadIndex
	}
	if verify && crc32c(b[:len(b)-4]) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, errBadIndex
	}
	return ix, nil
}

func (ix *segIndex) off(i int) int { return int(binary.LittleEndian.Uint64(ix.offs[8*i:])) }

// candidates returns the byte ranges [lo, hi) of the indexed part whose
// blocks may hold text (three bytes or more), in order, adjacent blocks
// merged. Offsets are checked to run forward inside the covered part, so
// a damaged index cannot send a scan outside the segment.
func (ix *segIndex) candidates(text []byte) [][2]int {
	cand := make([]byte, ix.sliceBytes)
	for i := range cand {
		cand[i] = 0xff
	}
	if r := ix.blocks % 8; r != 0 {
		cand[len(cand)-1] = byte(1)<<r - 1
	}
	done := map[uint32]bool{}
	forTrigrams(text, func(t uint32) {
		if done[t] {
			return
		}
		done[t] = true
		h1, h2 := trigramHashes(t, ix.m)
		s1 := ix.slices[int(h1)*ix.sliceBytes:][:ix.sliceBytes]
		s2 := ix.slices[int(h2)*ix.sliceBytes:][:ix.sliceBytes]
		for i := range cand {
			cand[i] &= s1[i] & s2[i]
		}
	})
	var out [][2]int
	for b := 0; b < ix.blocks; b++ {
		if cand[b/8] == 0 {
			b |= 7
			continue
		}
		if cand[b/8]&(1<<(b%8)) == 0 {
			continue
		}
		lo, hi := ix.off(b), ix.off(b+1)
		if lo > hi || hi > ix.covered {
			return [][2]int{{0, ix.covered}} // damaged: scan it all
		}
		if n := len(out); n > 0 && out[n-1][1] == lo {
			out[n-1][1] = hi
			continue
		}
		out = append(out, [2]int{lo, hi})
	}
	return out
}

// writeIndex builds the index of a stage's segment name and writes it
// beside it, atomically. A segment removed meanwhile leaves no index.
func writeIndex(dir, name string) error {
	data, release, err := mapFile(filepath.Join(dir, name+".log"))
	if err != nil {
		return err
	}
	idx := buildIndex(completeLines(data))
	release()
	path := filepath.Join(dir, name+".idx")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, idx, 0o600); err != nil {
		return fmt.Errorf("function logs: write index: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("function logs: write index: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, name+".log")); errors.Is(err, fs.ErrNotExist) {
		_ = os.Remove(path) // pruned while it was built
	}
	return nil
}

// completeLines is the part of data a segment's readers see.
func completeLines(data []byte) []byte { return data[:bytes.LastIndexByte(data, '\n')+1] }
