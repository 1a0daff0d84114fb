package persistence

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
)

// The record format shared by the snapshot and the journal.
//
// A frame is a little-endian uint32 payload length, a little-endian uint32
// CRC-32C (Castagnoli) of the payload, and the payload. The first payload
// byte is the operation:
//
//	'P' put: the whole new state of one session
//	'R' retime: a session's active flag and times, when a change (a
//	    renewal) left the rest of it as it was: a renewal of a large
//	    session costs its times, not its text
//	'D' delete: the id of a deleted session
//	'C' commit: the last frame of a journal batch (one write, one fsync),
//	    with the number of records in the batch
//	'E' end: the last frame of a snapshot, with the number of sessions
//	'T' table: one change of the homes, devices and quota slots, as JSON
//	    (they are few and small beside the sessions)
//	'S' synced: between two batches of a journal, the journal's nonce and
//	    the offset up to which an fsync has made that journal durable
//
// The nonce, random, is written in the journal's header and nowhere else
// (file_load.go). A session's bytes are the user's to choose, and may
// hold any record whole; only the nonce, which no user can know, tells a
// synced record the store wrote from one a user planted.
//
// A put payload is: op, a flags byte (active and which times are present),
// each present time as a zigzag varint of Unix milliseconds, the lengths of
// the nine string fields, the number of details, the lengths of each detail
// key and value, the lengths of user and data (all uvarints), then the bytes
// of the strings, the details, user and data. Those bytes are laid out as a
// record's text, so decoding copies them once, with no reflection, which is
// what lets a million sessions load in about a second.
const (
	opPut    = 'P'
	opRetime = 'R'
	opDelete = 'D'
	opCommit = 'C'
	opEnd    = 'E'
	opTable  = 'T'
	opSynced = 'S'

	frameHeader = 8
	// maxPayload bounds a frame so that a corrupt length is caught before a
	// huge allocation. A change whose record would be larger is refused
	// before it is journaled (sessions.CodeSessionTooLarge).
	maxPayload = 64 << 20
)

const (
	flagActive = 1 << iota
	flagOpenTime
	flagRequestTime
	flagCloseTime
	flagExpireTime
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32Checksum(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }

// errBadFrame reports a frame that is cut short or fails its checksum.
var errBadFrame = errors.New("corrupt record (cut short or fails its checksum)")

// appendTable appends the frame of one table change to b.
func appendTable(b []byte, c change) []byte {
	start := len(b)
	b = append(b, make([]byte, frameHeader)...)
	b = append(b, opTable)
	enc, err := json.Marshal(c)
	if err != nil {
		// A change holds only strings, numbers and times: it always encodes.
		panic(fmt.Sprintf("encode table change: %v", err))
	}
	b = append(b, enc...)
	return finishFrame(b, start)
}

// decodeTable decodes the payload of a table frame.
func decodeTable(p []byte) (change, error) {
	var c change
	if err := json.Unmarshal(p[1:], &c); err != nil {
		return change{}, fmt.Errorf("table record: %w", err)
	}
	return c, nil
}

// appendState appends op, the flags byte of r's active flag and present
// times, and those times: the head of a put or retime payload.
func appendState(b []byte, op byte, r *record) []byte {
	times := [...]struct {
		flag byte
		ms   int64
	}{{flagOpenTime, r.open}, {flagRequestTime, r.request}, {flagCloseTime, r.close}, {flagExpireTime, r.expire}}
	var flags byte
	if r.active {
		flags |= flagActive
	}
	for _, t := range times {
		if t.ms != zeroMillis {
			flags |= t.flag
		}
	}
	b = append(b, op, flags)
	for _, t := range times {
		if t.ms != zeroMillis {
			b = binary.AppendVarint(b, t.ms)
		}
	}
	return b
}

// decodeState reads the head appendState wrote into r, and returns the
// decoder positioned after it.
func decodeState(p []byte, r *record) decoder {
	d := decoder{b: p, i: 2}
	flags := p[1]
	r.active = flags&flagActive != 0
	for _, t := range [...]struct {
		flag byte
		dst  *int64
	}{{flagOpenTime, &r.open}, {flagRequestTime, &r.request}, {flagCloseTime, &r.close}, {flagExpireTime, &r.expire}} {
		*t.dst = zeroMillis
		if flags&t.flag != 0 {
			*t.dst = d.varint()
		}
	}
	return d
}

// appendRetime appends the retime frame of r to b: its id, active flag and
// times.
func appendRetime(b []byte, r *record) []byte {
	start := len(b)
	b = append(b, make([]byte, frameHeader)...)
	b = appendState(b, opRetime, r)
	b = append(b, r.id()...)
	return finishFrame(b, start)
}

// decodeRetime decodes a retime payload: the session's id, and a record
// holding its active flag and times alone (see record.retimed).
func decodeRetime(p []byte) (string, *record, error) {
	if len(p) < 2 || p[0] != opRetime {
		return "", nil, fmt.Errorf("not a retime record")
	}
	var st record
	d := decodeState(p, &st)
	if d.err || d.i >= len(p) {
		return "", nil, errBadPut
	}
	return string(p[d.i:]), &st, nil
}

// appendPut appends the put frame of r to b.
func appendPut(b []byte, r *record) []byte {
	start := len(b)
	b = append(b, make([]byte, frameHeader)...)
	b = appendState(b, opPut, r)
	for i := range numStrings {
		b = binary.AppendUvarint(b, uint64(len(r.field(i))))
	}
	keys := sortedKeys(r.details)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = binary.AppendUvarint(b, uint64(len(r.details[k])))
	}
	b = binary.AppendUvarint(b, uint64(r.ends[endUser]-r.ends[endDetails]))
	b = binary.AppendUvarint(b, uint64(len(r.text)-int(r.ends[endUser])))
	b = append(b, r.text[:r.ends[numStrings-1]]...)
	for _, k := range keys {
		b = append(b, k...)
		b = append(b, r.details[k]...)
	}
	b = append(b, r.text[r.ends[endDetails]:]...) // user and data
	return finishFrame(b, start)
}

// appendDelete appends the delete frame of a session id to b.
func appendDelete(b []byte, id string) []byte {
	start := len(b)
	b = append(b, make([]byte, frameHeader)...)
	b = append(b, opDelete)
	b = append(b, id...)
	return finishFrame(b, start)
}

// appendEnd appends the end frame of a snapshot of n sessions to b.
func appendEnd(b []byte, n int) []byte { return appendCount(b, opEnd, n) }

// appendCommit appends the commit frame of a batch of n records to b.
func appendCommit(b []byte, n int) []byte { return appendCount(b, opCommit, n) }

// appendSynced appends the synced frame of a journal with nonce, durable
// up to off, to b.
func appendSynced(b []byte, nonce []byte, off int64) []byte {
	start := len(b)
	b = append(b, make([]byte, frameHeader)...)
	b = append(b, opSynced)
	b = append(b, nonce...)
	b = binary.AppendUvarint(b, uint64(off))
	return finishFrame(b, start)
}

// decodeSynced decodes the offset a synced payload names; false unless it
// carries nonce.
func decodeSynced(p []byte, nonce []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(p[1:], nonce)
	off, n := binary.Uvarint(rest)
	return int64(off), ok && n > 0 && n == len(rest)
}

func appendCount(b []byte, op byte, n int) []byte {
	start := len(b)
	b = append(b, make([]byte, frameHeader)...)
	b = append(b, op)
	b = binary.AppendUvarint(b, uint64(n))
	return finishFrame(b, start)
}

// decodeCount decodes the count of an end or commit payload.
func decodeCount(p []byte) (int, bool) {
	n, k := binary.Uvarint(p[1:])
	return int(n), k > 0 && k == len(p)-1
}

func finishFrame(b []byte, start int) []byte {
	p := b[start+frameHeader:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(p)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(p, castagnoli))
	return b
}

// frameAt checks the frame at the start of b and returns its payload and
// its whole length; errBadFrame when it is cut short or corrupt.
func frameAt(b []byte) (payload []byte, n int, err error) {
	if len(b) < frameHeader {
		return nil, 0, errBadFrame
	}
	size := binary.LittleEndian.Uint32(b)
	if size == 0 || size > maxPayload || int(size) > len(b)-frameHeader {
		return nil, 0, errBadFrame
	}
	payload = b[frameHeader : frameHeader+int(size)]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, 0, errBadFrame
	}
	return payload, frameHeader + int(size), nil
}

// decodePut decodes a put payload into a new record, whose text is the
// payload's tail: one allocation, besides the record and any details.
func decodePut(p []byte) (*record, error) {
	if len(p) < 2 || p[0] != opPut {
		return nil, fmt.Errorf("not a put record")
	}
	r := &record{}
	d := decodeState(p, r)
	total := 0
	for i := range numStrings {
		total += d.length()
		r.ends[i] = uint32(total)
	}
	nd := d.length()
	var dlens []int
	if nd > 0 {
		if nd > len(p) {
			return nil, errBadPut
		}
		dlens = make([]int, 2*nd)
		for i := range dlens {
			dlens[i] = d.length()
			total += dlens[i]
		}
	}
	r.ends[endDetails] = uint32(total)
	ul, dl := d.length(), d.length()
	r.ends[endUser] = uint32(total + ul)
	if d.err || total < 0 || d.i+total+ul+dl != len(p) {
		return nil, errBadPut
	}

	r.text = string(p[d.i:])
	if nd > 0 {
		r.details = make(map[string]string, nd)
		at := int(r.ends[numStrings-1])
		for i := 0; i < len(dlens); i += 2 {
			kl, vl := dlens[i], dlens[i+1]
			r.details[r.text[at:at+kl]] = r.text[at+kl : at+kl+vl]
			at += kl + vl
		}
	}
	return r, nil
}

var errBadPut = errors.New("malformed session record")

// decoder reads varints from a payload, remembering the first failure.
type decoder struct {
	b   []byte
	i   int
	err bool
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b[d.i:])
	if n <= 0 {
		d.err = true
		return 0
	}
	d.i += n
	return v
}

// length reads a uvarint that must fit in the payload.
func (d *decoder) length() int {
	v, n := binary.Uvarint(d.b[d.i:])
	if n <= 0 || v > uint64(len(d.b)) {
		d.err = true
		return 0
	}
	d.i += n
	return int(v)
}
