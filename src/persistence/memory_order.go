package persistence

import (
	"math/rand/v2"
	"time"
)

// maxHeight bounds the skip list's towers; with a branching factor of 4 it
// serves 4^16 (about 4 billion) sessions before lookups degrade.
const maxHeight = 16

// handle names a stored session: its place in the memory store's slices.
// Handle 0 names no session; in the skip list it is the head.
type handle = uint32

// node is a session's place in the skip list.
type node struct {
	// request is the session's request_time in Unix milliseconds, kept
	// here so that a search reads only the nodes on its way, not their
	// records too.
	request int64
	// at is where the node's links start in skiplist.links: next at level
	// i is links[at+2i], prev links[at+2i+1]. The predecessors let a
	// removal unlink a node without searching for it, which is most of
	// the cost of a renewal otherwise.
	at     uint32
	height uint32
}

// skiplist orders sessions by newer: newest request_time first, ties by id
// descending. Insertion and seeking cost O(log n), removal O(1) expected;
// walking the order costs O(1) per session. A sorted slice would make every
// renewal (which moves a session to the front) an O(n) copy, and sorting on
// demand would make every listing O(n log n).
//
// It holds no pointers: nodes and their links live in two slices indexed
// by handle and by position, so the garbage collector never walks the
// list, however many sessions it holds.
type skiplist struct {
	nodes []node   // by handle; nodes[0] is the head
	links []uint32 // the towers of every node, 2*height entries each
	// spare keeps the positions of freed towers by height, for reuse.
	spare  [maxHeight + 1][]uint32
	height int
	// id returns the id of a session, for ties of request_time.
	id func(handle) string
}

func newSkiplist(id func(handle) string) skiplist {
	return skiplist{
		nodes: []node{{height: maxHeight}},
		links: make([]uint32, 2*maxHeight),
		id:    id,
	}
}

func (l *skiplist) next(h handle, i int) handle { return l.links[l.nodes[h].at+2*uint32(i)] }
func (l *skiplist) prev(h handle, i int) handle { return l.links[l.nodes[h].at+2*uint32(i)+1] }
func (l *skiplist) setNext(h handle, i int, n handle) {
	l.links[l.nodes[h].at+2*uint32(i)] = n
}
func (l *skiplist) setPrev(h handle, i int, p handle) {
	l.links[l.nodes[h].at+2*uint32(i)+1] = p
}

// first returns the first session, or 0.
func (l *skiplist) first() handle { return l.next(0, 0) }

// after returns the session after h, or 0.
func (l *skiplist) after(h handle) handle { return l.next(h, 0) }

// request returns the request_time of h in Unix milliseconds.
func (l *skiplist) request(h handle) int64 { return l.nodes[h].request }

// before reports whether a comes before b: newest request_time first, then
// by id, descending, as newer orders records.
func (l *skiplist) before(a, b handle) bool {
	if ra, rb := l.nodes[a].request, l.nodes[b].request; ra != rb {
		return ra > rb
	}
	return l.id(a) > l.id(b)
}

// place gives h a node of random height with request time request. h must
// not be in the list.
func (l *skiplist) place(h handle, request int64) {
	height := 1
	for height < maxHeight && rand.Uint32()&3 == 0 {
		height++
	}
	var at uint32
	if spare := l.spare[height]; len(spare) > 0 {
		at = spare[len(spare)-1]
		l.spare[height] = spare[:len(spare)-1]
	} else {
		at = uint32(len(l.links))
		l.links = append(l.links, make([]uint32, 2*height)...)
	}
	if int(h) >= len(l.nodes) {
		l.nodes = append(l.nodes, make([]node, int(h)+1-len(l.nodes))...)
	}
	l.nodes[h] = node{request: request, at: at, height: uint32(height)}
}

// insert places h and links it in order.
func (l *skiplist) insert(h handle, request int64) {
	l.place(h, request)
	var prev [maxHeight]handle
	x := handle(0)
	for i := l.height - 1; i >= 0; i-- {
		for y := l.next(x, i); y != 0 && l.before(y, h); y = l.next(x, i) {
			x = y
		}
		prev[i] = x
	}
	height := int(l.nodes[h].height)
	l.height = max(l.height, height) // prev above the old height is the head
	for i := range height {
		n := l.next(prev[i], i)
		l.setNext(h, i, n)
		l.setPrev(h, i, prev[i])
		l.setNext(prev[i], i, h)
		if n != 0 {
			l.setPrev(n, i, h)
		}
	}
}

// remove unlinks h and frees its node.
func (l *skiplist) remove(h handle) {
	nd := l.nodes[h]
	for i := range int(nd.height) {
		p, n := l.prev(h, i), l.next(h, i)
		l.setNext(p, i, n)
		if n != 0 {
			l.setPrev(n, i, p)
		}
		l.setNext(h, i, 0)
		l.setPrev(h, i, 0)
	}
	l.spare[nd.height] = append(l.spare[nd.height], nd.at)
	l.nodes[h] = node{}
	for l.height > 0 && l.next(0, l.height-1) == 0 {
		l.height--
	}
}

// build links handles, already in order and with their request times,
// into an empty list in linear time.
func (l *skiplist) build(hs []handle, request func(handle) int64) {
	var tails [maxHeight]handle // all the head at first
	for _, h := range hs {
		l.place(h, request(h))
		for i := range int(l.nodes[h].height) {
			l.setNext(tails[i], i, h)
			l.setPrev(h, i, tails[i])
			tails[i] = h
		}
		l.height = max(l.height, int(l.nodes[h].height))
	}
}

// seek returns the first session whose request_time is before t (the
// newest such), or the first session when t is zero; 0 when there is none.
func (l *skiplist) seek(t time.Time) handle {
	if t.IsZero() {
		return l.first()
	}
	x := handle(0)
	for i := l.height - 1; i >= 0; i-- {
		for y := l.next(x, i); y != 0 && !fromMillis(l.nodes[y].request).Before(t); y = l.next(x, i) {
			x = y
		}
	}
	return l.after(x)
}
