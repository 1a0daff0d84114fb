package persistence

import (
	"math/rand/v2"
	"time"
)

// maxHeight bounds the skip list's towers; with a branching factor of 4 it
// serves 4^16 (about 4 billion) sessions before lookups degrade.
const maxHeight = 16

// entry is one stored session, a node of the ordered index and the value of
// every other index.
type entry struct {
	r *record
	// request is r.request, kept here so that a search through the skip
	// list reads only the entries on its way, not their records too.
	request int64
	// links holds the entry's successor and predecessor at each level of
	// the skip list: next at level i is links[2i], prev links[2i+1]. The
	// predecessors let a removal unlink the entry without searching for it,
	// which is most of the cost of a renewal otherwise.
	links []*entry
	// low backs links for the three entries in four that are one or two
	// levels high, saving them an allocation.
	low [4]*entry
}

func newEntry(r *record) *entry {
	e := &entry{r: r, request: r.request}
	h := 1
	for h < maxHeight && rand.Uint32()&3 == 0 {
		h++
	}
	if 2*h <= len(e.low) {
		e.links = e.low[:2*h]
	} else {
		e.links = make([]*entry, 2*h)
	}
	return e
}

func (e *entry) height() int             { return len(e.links) / 2 }
func (e *entry) next(i int) *entry       { return e.links[2*i] }
func (e *entry) prev(i int) *entry       { return e.links[2*i+1] }
func (e *entry) after() *entry           { return e.links[0] }
func (e *entry) setNext(i int, n *entry) { e.links[2*i] = n }
func (e *entry) setPrev(i int, p *entry) { e.links[2*i+1] = p }

// before reports whether a comes before b in the skip list: it orders as
// newer does, by the request_time of the entries' records, newest first,
// then by id, descending.
func (a *entry) before(b *entry) bool {
	if a.request != b.request {
		return a.request > b.request
	}
	return a.r.id() > b.r.id()
}

// skiplist orders entries by newer: newest request_time first, ties by id
// descending. Insertion and seeking cost O(log n), removal O(1) expected;
// walking the order costs O(1) per entry. A sorted slice would make every
// renewal (which moves a session to the front) an O(n) copy, and sorting on
// demand would make every listing O(n log n).
type skiplist struct {
	head   entry
	height int
}

func newSkiplist() skiplist {
	return skiplist{head: entry{links: make([]*entry, 2*maxHeight)}}
}

// first returns the first entry, or nil.
func (l *skiplist) first() *entry { return l.head.after() }

// insert links e in order. Its session must not be linked already.
func (l *skiplist) insert(e *entry) {
	var prev [maxHeight]*entry
	x := &l.head
	for i := l.height - 1; i >= 0; i-- {
		for y := x.next(i); y != nil && y.before(e); y = x.next(i) {
			x = y
		}
		prev[i] = x
	}
	h := e.height()
	for i := l.height; i < h; i++ {
		prev[i] = &l.head
	}
	l.height = max(l.height, h)
	for i := range h {
		n := prev[i].next(i)
		e.setNext(i, n)
		e.setPrev(i, prev[i])
		prev[i].setNext(i, e)
		if n != nil {
			n.setPrev(i, e)
		}
	}
}

// remove unlinks e.
func (l *skiplist) remove(e *entry) {
	for i := range e.height() {
		p, n := e.prev(i), e.next(i)
		p.setNext(i, n)
		if n != nil {
			n.setPrev(i, p)
		}
		e.setNext(i, nil)
		e.setPrev(i, nil)
	}
	for l.height > 0 && l.head.next(l.height-1) == nil {
		l.height--
	}
}

// build links entries, already in order, into an empty list in linear time.
func (l *skiplist) build(entries []*entry) {
	var tails [maxHeight]*entry
	for i := range tails {
		tails[i] = &l.head
	}
	for _, e := range entries {
		for i := range e.height() {
			tails[i].setNext(i, e)
			e.setPrev(i, tails[i])
			tails[i] = e
		}
		l.height = max(l.height, e.height())
	}
}

// seek returns the first entry whose request_time is before t (the newest
// such), or the first entry when t is zero.
func (l *skiplist) seek(t time.Time) *entry {
	if t.IsZero() {
		return l.first()
	}
	x := &l.head
	for i := l.height - 1; i >= 0; i-- {
		for y := x.next(i); y != nil && !fromMillis(y.request).Before(t); y = x.next(i) {
			x = y
		}
	}
	return x.after()
}
