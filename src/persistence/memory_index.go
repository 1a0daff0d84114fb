package persistence

import (
	"hash/maphash"
	"slices"
)

// keyIndex finds sessions by a string key of theirs (id, user_id,
// parent_id, push_address). Empty keys are not indexed.
//
// It holds no pointers, so the garbage collector never walks it: a map from
// the key's hash to a list of handles, the lists linked through a slice
// indexed by handle. Keys whose hashes collide share a list, so a reader
// compares the key of what it finds.
type keyIndex struct {
	// field is the record field a secondary index keys on; the id index
	// leaves it zero, which is fieldID.
	field int
	seed  maphash.Seed
	heads map[uint64]chain
	links []link // by handle
}

// chain is the list of sessions whose keys have one hash.
type chain struct{ first, n uint32 }

// link is a session's place in its chain; 0 ends it.
type link struct{ next, prev handle }

func newKeyIndex(seed maphash.Seed, size int) keyIndex {
	return keyIndex{seed: seed, heads: make(map[uint64]chain, size)}
}

func (x *keyIndex) hash(key string) uint64 { return maphash.String(x.seed, key) }

// first returns the first session of key's chain and the chain's length.
// The chain may hold sessions of other keys.
func (x *keyIndex) first(key string) (handle, int) {
	c := x.heads[x.hash(key)]
	return c.first, int(c.n)
}

// next returns the session after h in its chain, or 0.
func (x *keyIndex) next(h handle) handle { return x.links[h].next }

func (x *keyIndex) add(key string, h handle) {
	if key == "" {
		return
	}
	if int(h) >= len(x.links) {
		x.links = slices.Grow(x.links, int(h)+1-len(x.links))[:int(h)+1]
	}
	k := x.hash(key)
	c := x.heads[k]
	x.links[h] = link{next: c.first}
	if c.first != 0 {
		x.links[c.first].prev = h
	}
	x.heads[k] = chain{first: h, n: c.n + 1}
}

func (x *keyIndex) remove(key string, h handle) {
	if key == "" {
		return
	}
	k := x.hash(key)
	c := x.heads[k]
	l := x.links[h]
	if l.prev != 0 {
		x.links[l.prev].next = l.next
	} else {
		c.first = l.next
	}
	if l.next != 0 {
		x.links[l.next].prev = l.prev
	}
	x.links[h] = link{}
	if c.n--; c.n == 0 {
		delete(x.heads, k)
	} else {
		x.heads[k] = c
	}
}
