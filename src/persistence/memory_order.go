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
	// next holds the entry's successor at each level of the skip list.
	next []*entry
	// low backs next for the three entries in four that are one or two
	// levels high, saving them an allocation.
	low [2]*entry
}

func newEntry(r *record) *entry {
	e := &entry{r: r, request: r.request}
	h := 1
	for h < maxHeight && rand.Uint32()&3 == 0 {
		h++
	}
	if h <= len(e.low) {
		e.next = e.low[:h]
	} else {
		e.next = make([]*entry, h)
	}
	return e
}

// before reports whether a comes before b in the skip list: it orders as
// newer does, by the request_time of the entries' records, newest first,
// then by id, descending.
func (a *entry) before(b *entry) bool {
	if a.request != b.request {
		return a.request > b.request
	}
	return a.r.id() > b.r.id()
}

// skiplist orders entries by newer: newest request_time first, ties
// by id descending. Insertion, removal and seeking cost O(log n); walking the
// order costs O(1) per entry. A sorted slice would make every renewal (which
// moves a session to the front) an O(n) copy, and sorting on demand would
// make every listing O(n log n).
type skiplist struct {
	head   entry
	height int
}

func newSkiplist() skiplist {
	return skiplist{head: entry{next: make([]*entry, maxHeight)}}
}

// insert links e in order. Its session must not be linked already.
func (l *skiplist) insert(e *entry) {
	var prev [maxHeight]*entry
	x := &l.head
	for i := l.height - 1; i >= 0; i-- {
		for y := x.next[i]; y != nil && y.before(e); y = x.next[i] {
			x = y
		}
		prev[i] = x
	}
	h := len(e.next)
	for i := l.height; i < h; i++ {
		prev[i] = &l.head
	}
	l.height = max(l.height, h)
	for i := range h {
		e.next[i] = prev[i].next[i]
		prev[i].next[i] = e
	}
}

// remove unlinks e, found by the order of its current record.
func (l *skiplist) remove(e *entry) {
	x := &l.head
	for i := l.height - 1; i >= 0; i-- {
		for y := x.next[i]; y != nil && y != e && y.before(e); y = x.next[i] {
			x = y
		}
		if x.next[i] == e {
			x.next[i] = e.next[i]
			e.next[i] = nil
		}
	}
	for l.height > 0 && l.head.next[l.height-1] == nil {
		l.height--
	}
}

// seek returns the first entry whose request_time is before t (the newest
// such), or the first entry when t is zero.
func (l *skiplist) seek(t time.Time) *entry {
	if t.IsZero() {
		return l.head.next[0]
	}
	x := &l.head
	for i := l.height - 1; i >= 0; i-- {
		for y := x.next[i]; y != nil && !fromMillis(y.request).Before(t); y = x.next[i] {
			x = y
		}
	}
	return x.next[0]
}
