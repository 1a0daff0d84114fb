package persistence

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// Files of a store at path:
//
//	path                 the snapshot: snapshotMagic, the uint64 generation of
//	                     the first journal to replay over it, put frames in
//	                     newest-first order, an end frame
//	path.journal.<gen>   a journal: journalMagic, its uint64 generation, its
//	                     nonce (8 random bytes), then batches of put, delete
//	                     and table frames, each ending with a commit frame;
//	                     between batches, synced frames carrying the nonce
//	path.node-backup     the Node service's file, kept when it was migrated
//	<any of these>.tmp   a file writeAtomic is writing, or a crash left
//
// The magics start with a byte that cannot start JSON, so a Node file (a
// JSON array) is told apart by its first byte.
const (
	snapshotMagic = "SESSNAP1"
	// Journals of formats 1 and 2 are read, never written: the first start
	// after an upgrade cuts one to its last committed batch and goes on in
	// a new journal.
	journalMagic       = "SESSJRN3"
	journalMagicV2     = "SESSJRN2" // synced frames without the nonce, which a user could plant
	journalMagicV1     = "SESSJRN1" // without synced frames
	journalHeaderSize  = 24
	nonceSize          = 8
	snapshotHeaderSize = 16
	readBuffer         = 1 << 20
)

// loaded is what Open found on disk.
type loaded struct {
	journal      *journalFile
	snapshotSize int64
}

// load fills f.mem from the files at f.path and returns the journal to
// append to.
func (f *File) load(ctx context.Context) (loaded, error) {
	f.mem.tables.reset() // a store closed and opened again holds only what is on disk
	base, err := readBase(f.path)
	if err != nil {
		return loaded{}, err
	}
	gens, err := listJournals(f.path)
	if err != nil {
		return loaded{}, err
	}
	if base.node {
		return f.migrateNode(base, gens)
	}
	if !base.found && len(gens) > 0 && gens[0] > 0 {
		return loaded{}, fmt.Errorf("snapshot is missing but journal %s exists; restore the snapshot or move the journals away",
			journalName(f.path, gens[0]))
	}

	touched := make(map[string]*record)
	retimed := make(map[string]*record)
	tableChanges := base.tables
	var current *journalFile
	next := base.gen // of the journal to create when there is none to append to
	for i, gen := range gens {
		name := journalName(f.path, gen)
		if gen < base.gen {
			// Folded into the snapshot by a compaction cut short before it
			// could remove it.
			if err := os.Remove(name); err != nil {
				f.log.Warn("cannot remove a compacted journal", zap.String("path", name), zap.Error(err))
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			return loaded{}, err
		}
		last := i == len(gens)-1
		end, hdr, err := replayJournal(name, gen, last, touched, retimed, &tableChanges, f.log)
		if err != nil {
			return loaded{}, err
		}
		if last {
			if current, err = openJournal(name, gen, hdr.nonce, end); err != nil {
				return loaded{}, err
			}
			if hdr.magic != journalMagic {
				// New changes go to a journal of the current format; this
				// one, cut to its end and fsynced, is no longer the last.
				if err := current.close(); err != nil {
					return loaded{}, fmt.Errorf("close journal %s: %w", name, err)
				}
				current, next = nil, gen+1
			}
		}
	}
	f.mem.load(mergeChanges(base.list, touched, retimed))
	for _, c := range tableChanges {
		f.mem.tables.apply(c)
	}
	f.mem.tables.reindex()
	if n := f.mem.tables.dropOrphans(func(id string) bool { return f.mem.get(id) != nil }); n > 0 {
		f.log.Warn("freed quota places held for sessions that are not stored (the process stopped between the two writes of an open or a delete)",
			zap.Int("places", n))
	}
	if current == nil {
		if current, err = createJournal(f.path, next); err != nil {
			return loaded{}, err
		}
	}
	return loaded{journal: current, snapshotSize: base.size}, nil
}

// migrateNode loads a Node file, keeps a copy of it, and replaces it with a
// snapshot. Journals left beside it belong to no snapshot and are dropped.
func (f *File) migrateNode(base base, gens []uint64) (loaded, error) {
	backup := f.path + ".node-backup"
	if err := copyFile(f.path, backup); err != nil {
		return loaded{}, fmt.Errorf("back up the Node file: %w", err)
	}
	gen := uint64(1)
	if len(gens) > 0 {
		gen = gens[len(gens)-1] + 1
		f.log.Warn("ignoring journals beside a Node file", zap.Int("journals", len(gens)))
	}
	f.mem.load(base.list)
	size, err := writeSnapshot(f.path, gen, f.mem.snapshot(), nil)
	if err != nil {
		return loaded{}, err
	}
	removeJournalsBefore(f.path, gen, f.log)
	j, err := createJournal(f.path, gen)
	if err != nil {
		return loaded{}, err
	}
	stored := f.mem.count()
	if dropped := len(base.list) - stored; dropped > 0 {
		f.log.Warn("the Node file holds sessions under an id already taken; one session is kept for each id",
			zap.String("path", f.path), zap.Int("dropped", dropped))
	}
	f.log.Info("migrated the Node file persistence format", zap.String("path", f.path),
		zap.Int("sessions", stored), zap.String("backup", backup))
	return loaded{journal: j, snapshotSize: size}, nil
}

// base is the content of the file at path.
type base struct {
	found bool
	node  bool
	gen   uint64
	list  []*record
	// tables are the homes, devices and slots of the snapshot, as changes.
	tables []change
	size   int64
}

// readBase reads the snapshot at path, or a Node file. A missing or empty
// file is an empty store.
func readBase(path string) (base, error) {
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return base{}, nil
	}
	if err != nil {
		return base{}, err
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return base{}, err
	}
	r := bufio.NewReaderSize(fh, readBuffer)
	if head, _ := r.Peek(len(snapshotMagic)); string(head) == snapshotMagic {
		gen, list, tables, err := readSnapshot(r, path)
		return base{found: true, gen: gen, list: list, tables: tables, size: info.Size()}, err
	}
	if bom, _ := r.Peek(3); string(bom) == "\xef\xbb\xbf" {
		r.Discard(3)
	}
	for {
		c, err := r.ReadByte()
		switch {
		case err == io.EOF:
			return base{}, nil // empty or blank: an empty store
		case err != nil:
			return base{}, err
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			continue
		case c == '[':
			if err := r.UnreadByte(); err != nil {
				return base{}, err
			}
			list, err := readNode(r, path)
			return base{found: true, node: true, list: list, size: info.Size()}, err
		}
		return base{}, fmt.Errorf("%s is neither a session snapshot nor a Node sessions file (a JSON array)", path)
	}
}

// readSnapshot reads a snapshot; any damage is an error, since a snapshot
// is written whole and fsynced before it replaces the previous one.
func readSnapshot(r *bufio.Reader, name string) (uint64, []*record, []change, error) {
	var hdr [snapshotHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, nil, fmt.Errorf("%s: snapshot header: %w", name, err)
	}
	var tables []change
	gen := binary.LittleEndian.Uint64(hdr[8:])
	var (
		list    []*record
		off     = int64(snapshotHeaderSize)
		payload []byte
	)
	for {
		p, n, err := readFrame(r, &payload)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("snapshot ends without its end record")
			}
			return 0, nil, nil, fmt.Errorf("%s: offset %d: %w", name, off, err)
		}
		switch p[0] {
		case opPut:
			s, err := decodePut(p)
			if err != nil {
				return 0, nil, nil, fmt.Errorf("%s: offset %d: %w", name, off, err)
			}
			list = append(list, s)
		case opTable:
			c, err := decodeTable(p)
			if err != nil {
				return 0, nil, nil, fmt.Errorf("%s: offset %d: %w", name, off, err)
			}
			tables = append(tables, c)
		case opEnd:
			if count, ok := decodeCount(p); !ok || count != len(list) {
				return 0, nil, nil, fmt.Errorf("%s: offset %d: end record counts %d sessions, found %d", name, off, count, len(list))
			}
			if _, err := r.ReadByte(); err != io.EOF {
				return 0, nil, nil, fmt.Errorf("%s: offset %d: data after the end record", name, off+int64(n))
			}
			return gen, list, tables, nil
		default:
			return 0, nil, nil, fmt.Errorf("%s: offset %d: unexpected record type %q in a snapshot", name, off, p[0])
		}
		off += int64(n)
	}
}

// readFrame reads one frame into *buf and returns its payload and length.
// io.EOF means a clean end before the frame; errBadFrame a cut or corrupt one.
func readFrame(r *bufio.Reader, buf *[]byte) ([]byte, int, error) {
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return nil, 0, io.EOF
		}
		return nil, 0, errBadFrame
	}
	size := binary.LittleEndian.Uint32(hdr[:])
	if size == 0 || size > maxPayload {
		return nil, 0, errBadFrame
	}
	if cap(*buf) < int(size) {
		*buf = make([]byte, size)
	}
	p := (*buf)[:size]
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, 0, errBadFrame
	}
	if crc32Checksum(p) != binary.LittleEndian.Uint32(hdr[4:]) {
		return nil, 0, errBadFrame
	}
	return p, frameHeader + int(size), nil
}

// replayJournal applies the committed batches of one journal to touched
// (a nil value marks a deleted session) and retimed (the active flag and
// times of a session renewed since its last state in the snapshot, which
// touched does not hold), and returns the offset where its last committed
// batch ends, and its header.
//
// Only the last journal may end damaged: each is fsynced before the next
// is created. There, damage where no fsync reached is what a crash leaves:
// a write cut short, or, with options.sync "interval", pages the system
// wrote out of order before a power loss. It is dropped from the batch it
// starts in, with a warning; the batches after it were acknowledged but
// not yet fsynced, which that mode allows to lose. The synced frames tell
// where fsyncs reached: damage below the highest offset one after it
// names is corruption of durable data, an error. Only a frame with the
// journal's nonce is one: a session's bytes, which a user chose, may hold
// any other. So
// is any damage in another journal, and, in a format-1 journal (no synced
// frames), damage with a committed batch after it.
func replayJournal(name string, gen uint64, last bool, touched, retimed map[string]*record, tables *[]change, log *zap.Logger) (int64, journalHeader, error) {
	fh, err := os.Open(name)
	if err != nil {
		return 0, journalHeader{}, err
	}
	defer fh.Close()
	r := bufio.NewReaderSize(fh, readBuffer)
	hdr, err := readJournalHeader(r)
	if err != nil {
		return 0, journalHeader{}, fmt.Errorf("%s: %w", name, err)
	}
	if hdr.gen != gen {
		return 0, journalHeader{}, fmt.Errorf("%s: header says generation %d", name, hdr.gen)
	}
	scan, err := scanJournal(r, hdr, touched, retimed, tables)
	if err != nil {
		return 0, journalHeader{}, fmt.Errorf("%s: %w", name, err)
	}
	if scan.badAt < 0 {
		return scan.committed, hdr, nil
	}
	if !last {
		return 0, journalHeader{}, fmt.Errorf("%s: corrupt record at offset %d: %s; intact up to offset %d", name, scan.badAt, scan.badMessage, scan.committed)
	}
	rest, err := readFrom(fh, scan.committed)
	if err != nil {
		return 0, journalHeader{}, fmt.Errorf("%s: %w", name, err)
	}
	if err := dropDamagedEnd(rest, hdr, scan, name, log); err != nil {
		return 0, journalHeader{}, err
	}
	return scan.committed, hdr, nil
}

// journalScan is what scanJournal found: where the last committed batch
// ends, and where damage starts (-1 for none) and what it is.
type journalScan struct {
	committed  int64
	badAt      int64
	badMessage string
}

// scanJournal reads the frames of a journal after its header hdr, applying
// each committed batch to touched, retimed and tables, up to the end or the first
// damage: a frame cut short or failing its checksum, a misplaced commit or
// synced frame, or a last batch without its commit frame. A frame that
// passes its checksum but cannot be read is an error.
func scanJournal(r *bufio.Reader, hdr journalHeader, touched, retimed map[string]*record, tables *[]change) (journalScan, error) {
	// A pending entry is a session put, retime or delete (id, r) or a
	// table change.
	type pendingChange struct {
		id    string
		r     *record
		table *change
		// retime: r holds the active flag and times of session id alone.
		retime bool
	}
	var (
		pending []pendingChange
		scan    = journalScan{committed: hdr.size, badAt: -1}
		off     = hdr.size
		payload []byte
	)
	for scan.badAt < 0 {
		p, n, err := readFrame(r, &payload)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			scan.badAt, scan.badMessage = off, "cut short or fails its checksum"
			break
		}
		switch p[0] {
		case opPut:
			r, err := decodePut(p)
			if err != nil {
				return journalScan{}, fmt.Errorf("offset %d: %w", off, err)
			}
			pending = append(pending, pendingChange{id: r.id(), r: r})
		case opDelete:
			pending = append(pending, pendingChange{id: string(p[1:])})
		case opRetime:
			id, st, err := decodeRetime(p)
			if err != nil {
				return journalScan{}, fmt.Errorf("offset %d: %w", off, err)
			}
			pending = append(pending, pendingChange{id: id, r: st, retime: true})
		case opTable:
			c, err := decodeTable(p)
			if err != nil {
				return journalScan{}, fmt.Errorf("offset %d: %w", off, err)
			}
			pending = append(pending, pendingChange{table: &c})
		case opCommit:
			if count, ok := decodeCount(p); !ok || count != len(pending) {
				scan.badAt, scan.badMessage = off, fmt.Sprintf("commit record counts %d changes, batch has %d", count, len(pending))
				break
			}
			for _, c := range pending {
				switch prev, put := touched[c.id]; {
				case c.table != nil:
					*tables = append(*tables, *c.table)
				case !c.retime:
					touched[c.id] = c.r
					delete(retimed, c.id)
				case prev != nil:
					touched[c.id] = prev.retimed(c.r)
				case !put:
					retimed[c.id] = c.r // of the snapshot's session
				}
			}
			pending = pending[:0]
			scan.committed = off + int64(n)
		case opSynced:
			// What it names lies before it, so before any damage that
			// follows: only the synced records after the damage tell.
			if at, ok := hdr.synced(p); !ok || len(pending) > 0 || at > off {
				scan.badAt, scan.badMessage = off, "misplaced synced record"
				break
			}
			scan.committed = off + int64(n)
		default:
			return journalScan{}, fmt.Errorf("offset %d: unknown record type %q", off, p[0])
		}
		off += int64(n)
	}
	if scan.badAt < 0 && len(pending) > 0 {
		scan.badAt, scan.badMessage = off, "batch has no commit record"
	}
	return scan, nil
}

// dropDamagedEnd judges the damaged end of the last journal, rest, which
// starts where its last committed batch ends: what a crash or a power loss
// leaves is dropped with a warning; damage to what an fsync made durable,
// or in a format-1 journal with a committed batch after it, is an error.
func dropDamagedEnd(rest []byte, hdr journalHeader, scan journalScan, name string, log *zap.Logger) error {
	after := scanAfterDamage(rest, hdr)
	switch {
	case hdr.magic == journalMagicV1 && after.batch >= 0:
		return fmt.Errorf("%s: corrupt record at offset %d (%s) with committed records after it at offset %d; intact up to offset %d",
			name, scan.badAt, scan.badMessage, scan.committed+int64(after.batch), scan.committed)
	case after.durable > scan.committed:
		return fmt.Errorf("%s: corrupt record at offset %d (%s) in what an fsync made durable, up to offset %d; intact up to offset %d",
			name, scan.badAt, scan.badMessage, after.durable, scan.committed)
	case after.batch >= 0:
		log.Warn("dropping the end of the journal, which a power loss left damaged before it was fsynced; the changes there were acknowledged but not yet durable (options.sync: interval)",
			zap.String("path", name), zap.Int64("offset", scan.committed), zap.Int("bytes", len(rest)))
	default:
		// A crash of the process leaves a write cut short, never
		// acknowledged; a power loss may also have zeroed whole batches
		// that were, and nothing after the damage tells which.
		log.Warn("dropping the damaged end of the journal, where no fsync had reached: a write a crash cut short, never acknowledged, or, after a power loss with options.sync: interval, changes acknowledged but not yet durable",
			zap.String("path", name), zap.Int64("offset", scan.committed), zap.Int("bytes", len(rest)))
	}
	return nil
}

// journalHeader is what the header of a journal says.
type journalHeader struct {
	magic string // its format: journalMagic, or an older one
	gen   uint64
	nonce []byte // carried by each of its synced frames; none before format 3
	size  int64
}

var (
	errJournalFormat = errors.New("not a session journal of a format this version reads")
	// A journal is created whole, header and all, under a temporary name:
	// one shorter than its header was cut by something else.
	errJournalShort = errors.New("shorter than a journal's header, which the service writes whole: the file was cut or emptied outside the service")
)

// readJournalHeader reads the header of a journal of any format this
// version reads.
func readJournalHeader(r io.Reader) (journalHeader, error) {
	b := make([]byte, journalHeaderSize)
	old := journalHeaderSize - nonceSize // where the headers of formats 1 and 2 end
	if _, err := io.ReadFull(r, b[:old]); err != nil {
		return journalHeader{}, errJournalShort
	}
	h := journalHeader{magic: string(b[:8]), gen: binary.LittleEndian.Uint64(b[8:]), size: int64(old)}
	switch h.magic {
	case journalMagicV1, journalMagicV2:
		return h, nil
	case journalMagic:
		if _, err := io.ReadFull(r, b[old:]); err != nil {
			return journalHeader{}, errJournalShort
		}
		h.nonce, h.size = b[old:], journalHeaderSize
		return h, nil
	}
	return journalHeader{}, errJournalFormat
}

// synced decodes a synced payload of the journal: the offset it names;
// false unless the journal's format has synced frames and the payload
// carries the journal's nonce.
func (h journalHeader) synced(p []byte) (int64, bool) {
	if h.magic == journalMagicV1 {
		return 0, false
	}
	return decodeSynced(p, h.nonce)
}

// afterDamage is what the valid frames of a journal's end, which starts
// with a damaged or uncommitted batch, tell.
type afterDamage struct {
	batch   int   // where a record after that batch is, or -1
	durable int64 // the highest offset a synced frame there names
}

// scanAfterDamage looks through rest, which starts with the damaged or
// uncommitted batch, for what its frames tell: records after the first
// commit record that could end that batch, and synced frames anywhere.
//
// The first frame is the batch's own. A frame that checks out whole is
// stepped over whole, as the frames in its payload are a session's bytes.
// Past bytes that do not check out, the damage may have cut any frame, so
// the next is looked for at every byte, and what is found there may be a
// session's bytes, which a user chose: a synced frame counts only with
// the journal's nonce.
func scanAfterDamage(rest []byte, hdr journalHeader) afterDamage {
	found := afterDamage{batch: -1}
	endOfTorn := -1
	i := 1
	if _, n, err := frameAt(rest); err == nil {
		i = n
	}
	for i+frameHeader < len(rest) {
		p, n, err := frameAt(rest[i:])
		if err != nil {
			i++
			continue
		}
		switch p[0] {
		case opSynced:
			if at, ok := hdr.synced(p); ok {
				found.durable = max(found.durable, at)
			}
		case opPut, opRetime, opDelete, opCommit, opTable:
			if endOfTorn >= 0 && found.batch < 0 {
				found.batch = i
			}
			if p[0] == opCommit && endOfTorn < 0 {
				endOfTorn = i + n
			}
		}
		i += n
	}
	return found
}

func readFrom(fh *os.File, off int64) ([]byte, error) {
	if _, err := fh.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(fh)
}

// mergeChanges applies the journal's changes to a snapshot list in newer
// order, keeping the order without sorting the whole list: the sessions
// touched puts or deletes, and the times retimed gives the others.
func mergeChanges(list []*record, touched, retimed map[string]*record) []*record {
	if len(retimed) > 0 {
		for _, r := range list {
			if st, ok := retimed[r.id()]; ok {
				touched[r.id()] = r.retimed(st)
			}
		}
	}
	if len(touched) == 0 {
		return list
	}
	kept := list[:0]
	for _, r := range list {
		if _, ok := touched[r.id()]; !ok {
			kept = append(kept, r)
		}
	}
	changed := make([]*record, 0, len(touched))
	for _, r := range touched {
		if r != nil {
			changed = append(changed, r)
		}
	}
	slices.SortFunc(changed, newer)
	if !slices.IsSortedFunc(kept, newer) {
		slices.SortFunc(kept, newer)
	}
	out := make([]*record, 0, len(kept)+len(changed))
	i, j := 0, 0
	for i < len(kept) && j < len(changed) {
		if newer(kept[i], changed[j]) <= 0 {
			out = append(out, kept[i])
			i++
		} else {
			out = append(out, changed[j])
			j++
		}
	}
	out = append(out, kept[i:]...)
	return append(out, changed[j:]...)
}

// readNode reads the Node service's file: a JSON array of sessions whose
// dates are ISO strings.
func readNode(r io.Reader, name string) ([]*record, error) {
	dec := json.NewDecoder(r)
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var list []*record
	for dec.More() {
		var s sessions.Session
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("%s: session %d: %w", name, len(list)+1, err)
		}
		if s.ID == "" {
			return nil, fmt.Errorf("%s: session %d has no id", name, len(list)+1)
		}
		s.User, s.Data = sessions.Payload(s.User), sessions.Payload(s.Data) // as an open stores them
		list = append(list, pack(&s))
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return list, nil
}

// journalFile is the journal being appended to.
type journalFile struct {
	name  string
	gen   uint64
	fh    journalHandle
	nonce []byte // of its header, carried by its synced frames
	size  int64
	dirty bool // written since the last fsync
	// durable is the size the last fsync made durable, marked the last
	// such size written down in a synced frame.
	durable, marked int64
}

// journalHandle is what a journal needs of its open file: an *os.File, or
// in tests one that fails on cue.
type journalHandle interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Close() error
}

func journalName(path string, gen uint64) string {
	return path + ".journal." + strconv.FormatUint(gen, 10)
}

// createJournal creates an empty journal atomically: header written and
// fsynced under a temporary name, then renamed. Its nonce is random, so
// that no user can know it.
func createJournal(path string, gen uint64) (*journalFile, error) {
	return makeJournal(path, gen, openJournal)
}

// errJournalLeft says that a journal whose creation failed is left on disk.
var errJournalLeft = errors.New("the new journal, which could not be opened, cannot be removed either: " +
	"changes cannot go on in the journal before it, which must stay the last")

// makeJournal is createJournal, opening the new journal with open. When it
// fails after the rename (the folder's fsync or the open), it removes the
// file again: left there, it would follow the journal the writes go on
// in, and only the last journal may end torn by a crash. When even that
// fails, its error is errJournalLeft.
func makeJournal(path string, gen uint64, open func(name string, gen uint64, nonce []byte, end int64) (*journalFile, error)) (*journalFile, error) {
	name := journalName(path, gen)
	hdr := make([]byte, journalHeaderSize)
	copy(hdr, journalMagic)
	binary.LittleEndian.PutUint64(hdr[8:], gen)
	nonce := hdr[journalHeaderSize-nonceSize:]
	rand.Read(nonce) // never fails: it would crash the program first
	err := writeAtomic(name, func(w io.Writer) error {
		_, err := w.Write(hdr)
		return err
	})
	if err == nil {
		var j *journalFile
		if j, err = open(name, gen, nonce, journalHeaderSize); err == nil {
			return j, nil
		}
	}
	if left := removeDurably(name); left != nil {
		return nil, fmt.Errorf("create journal: %w; %w: %w", err, errJournalLeft, left)
	}
	return nil, fmt.Errorf("create journal: %w", err)
}

// removeDurably removes the file name, if there is one, and fsyncs its
// folder.
func removeDurably(name string) error {
	err := os.Remove(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(name))
}

// openJournal opens a journal for appending after its first end bytes,
// cutting off anything past them, and fsyncs it: what was replayed is
// durable from now on, and the first batch appended says so.
func openJournal(name string, gen uint64, nonce []byte, end int64) (*journalFile, error) {
	fh, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	info, err := fh.Stat()
	if err == nil && info.Size() != end {
		err = fh.Truncate(end)
	}
	if err == nil {
		err = fh.Sync()
	}
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("open journal %s: %w", name, err)
	}
	return &journalFile{name: name, gen: gen, fh: fh, nonce: nonce, size: end, durable: end, marked: journalHeaderSize}, nil
}

// markDurable appends to b, a batch about to be appended, a synced frame
// naming what fsyncs made durable, when that grew since the last one.
func (j *journalFile) markDurable(b []byte) []byte {
	if j.durable <= j.marked {
		return b
	}
	j.marked = j.durable
	return appendSynced(b, j.nonce, j.durable)
}

// append writes b, and fsyncs it when sync is set. When either fails,
// the journal is cut back to where b began: a restart must not bring back
// a batch whose writers were told it failed, nor find the torn bytes of a
// write that stopped part-way. If even the cut fails, the error says so.
func (j *journalFile) append(b []byte, sync bool) error {
	start := j.size
	n, err := j.fh.Write(b)
	j.size += int64(n)
	if err == nil {
		j.dirty = true
		if !sync {
			return nil
		}
		if err = j.flush(); err == nil {
			return nil
		}
	}
	if cutErr := j.fh.Truncate(start); cutErr != nil {
		return errors.Join(err, fmt.Errorf("cut the journal back to %d bytes: %w", start, cutErr))
	}
	j.size = start
	return err
}

// flush fsyncs what was written since the last fsync.
func (j *journalFile) flush() error {
	if !j.dirty || j.fh == nil {
		return nil
	}
	j.dirty = false
	if err := j.fh.Sync(); err != nil {
		return err
	}
	j.durable = j.size
	return nil
}
func (j *journalFile) close() error {
	if j.fh == nil {
		return nil
	}
	err := errors.Join(j.flush(), j.fh.Close())
	j.fh = nil
	return err
}

// writeSnapshot writes list (in sessions.Newer order) as the snapshot at
// path, atomically, and returns its size.
func writeSnapshot(path string, gen uint64, list []*record, tables []change) (int64, error) {
	var size int64
	err := writeAtomic(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, readBuffer)
		hdr := make([]byte, snapshotHeaderSize, 4096)
		copy(hdr, snapshotMagic)
		binary.LittleEndian.PutUint64(hdr[8:], gen)
		if _, err := bw.Write(hdr); err != nil {
			return err
		}
		size = snapshotHeaderSize
		buf := hdr[:0]
		for i, r := range list {
			if i%snapshotYield == snapshotYield-1 {
				// Let the requests waiting to run go first: on one P (a
				// container of one CPU) they would otherwise wait for the
				// scheduler to preempt this loop, 10 ms and more.
				runtime.Gosched()
			}
			buf = appendPut(buf[:0], r)
			if len(buf)-frameHeader > maxPayload {
				// Only a migrated Node session can be: the store refuses them.
				return fmt.Errorf("session %q is larger than a record may be (%d bytes)", r.id(), maxPayload)
			}
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			size += int64(len(buf))
		}
		for _, c := range tables {
			buf = appendTable(buf[:0], c)
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			size += int64(len(buf))
		}
		buf = appendEnd(buf[:0], len(list))
		if _, err := bw.Write(buf); err != nil {
			return err
		}
		size += int64(len(buf))
		return bw.Flush()
	})
	if err != nil {
		return 0, fmt.Errorf("write snapshot: %w", err)
	}
	return size, nil
}

// snapshotYield is how many sessions a snapshot writes between two yields
// to other goroutines: about 1.5 ms of encoding.
const snapshotYield = 4096

// writeAtomic writes name through a temporary file: write, fsync, rename,
// fsync the directory. A crash leaves the old file or the new one, whole.
// The new file keeps the permission bits of the file it replaces, or is
// 0600: the store's files hold every session's user and data.
func writeAtomic(name string, write func(io.Writer) error) (err error) {
	perm := os.FileMode(0o600)
	if info, err := os.Stat(name); err == nil {
		perm = info.Mode().Perm()
	}
	tmp := name + ".tmp"
	fh, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			fh.Close()
			os.Remove(tmp)
		}
	}()
	// Chmod, not OpenFile's mode: the umask and a leftover temporary file's
	// own mode do not count.
	if err = fh.Chmod(perm); err != nil {
		return err
	}
	if err = write(fh); err != nil {
		return err
	}
	if err = fh.Sync(); err != nil {
		return err
	}
	if err = fh.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, name); err != nil {
		return err
	}
	return syncDir(filepath.Dir(name))
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	return writeAtomic(to, func(w io.Writer) error {
		_, err := io.Copy(w, src)
		return err
	})
}

// listJournals returns the generations of the journals beside path, in order.
func listJournals(path string) ([]uint64, error) {
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("list journals: %w", err)
	}
	prefix := filepath.Base(path) + ".journal."
	var gens []uint64
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		if gen, err := strconv.ParseUint(suffix, 10, 64); err == nil {
			gens = append(gens, gen)
		}
	}
	slices.Sort(gens)
	return gens, nil
}

// removeTemporaries removes the temporary files of writeAtomic that a
// crash left beside the store at path (a snapshot that a compaction was
// writing may be as large as the store). Only the holder of the store's
// lock writes them, so the one that holds it now may: without locks it
// leaves them.
func removeTemporaries(path string, log *zap.Logger) {
	if !locksHold {
		return
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return // the load that follows says why
	}
	base := filepath.Base(path)
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".tmp")
		if !ok || !e.Type().IsRegular() || !storeFile(base, name) {
			continue
		}
		tmp := filepath.Join(filepath.Dir(path), e.Name())
		if err := os.Remove(tmp); err != nil {
			log.Warn("cannot remove a temporary file a crash left", zap.String("path", tmp), zap.Error(err))
			continue
		}
		log.Info("removed a temporary file a crash left", zap.String("path", tmp))
	}
}

// storeFile reports whether name is one of the files of the store whose
// snapshot is named base.
func storeFile(base, name string) bool {
	if name == base || name == base+".node-backup" {
		return true
	}
	gen, ok := strings.CutPrefix(name, base+".journal.")
	_, err := strconv.ParseUint(gen, 10, 64)
	return ok && err == nil
}

// removeJournalsBefore removes the journals older than gen, which a
// snapshot of generation gen holds. Failing to is only wasted space.
func removeJournalsBefore(path string, gen uint64, log *zap.Logger) {
	gens, err := listJournals(path)
	if err != nil {
		log.Warn("cannot list old journals", zap.Error(err))
		return
	}
	for _, g := range gens {
		if g >= gen {
			break
		}
		if err := os.Remove(journalName(path, g)); err != nil {
			log.Warn("cannot remove a compacted journal", zap.String("path", journalName(path, g)), zap.Error(err))
		}
	}
}
