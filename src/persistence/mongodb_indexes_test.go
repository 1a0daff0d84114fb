package persistence

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Of several indexes on the keys wanted, one that serves as wanted counts,
// whatever its name, its place in the list or how the server writes 1.
func TestAnIndexIsFoundByItsKeys(t *testing.T) {
	places := mongoIndex{keys: bson.D{{Key: "home_id", Value: 1}, {Key: "index", Value: 1}}, unique: true}
	partial := indexInfo{Name: "partial", Key: bson.D{{Key: "home_id", Value: int32(1)}, {Key: "index", Value: int32(1)}},
		Unique: true, Partial: bson.Raw{5, 0, 0, 0, 0}}
	plain := indexInfo{Name: "plain", Key: bson.D{{Key: "home_id", Value: 1.0}, {Key: "index", Value: int64(1)}}, Unique: true}
	notUnique := indexInfo{Name: "not-unique", Key: bson.D{{Key: "home_id", Value: 1}, {Key: "index", Value: 1}}}
	other := indexInfo{Name: "other", Key: bson.D{{Key: "index", Value: 1}, {Key: "home_id", Value: 1}}, Unique: true}
	for _, tc := range []struct {
		name      string
		have      []indexInfo
		want      string
		ok, serve bool
	}{
		{"none", []indexInfo{other}, "", false, false},
		{"a plain one after a partial one", []indexInfo{partial, plain}, "plain", true, true},
		{"only a partial one", []indexInfo{other, partial}, "partial", true, false},
		{"only one not unique", []indexInfo{notUnique}, "not-unique", true, false},
	} {
		got, ok := places.in(tc.have)
		if ok != tc.ok || got.Name != tc.want || ok && places.servedBy(got) != tc.serve {
			t.Errorf("%s: got %q (found %v, serves %v); want %q (found %v, serves %v)",
				tc.name, got.Name, ok, places.servedBy(got), tc.want, tc.ok, tc.serve)
		}
	}
	if !(mongoIndex{keys: notUnique.Key}).servedBy(notUnique) {
		t.Error("a plain index that need not be unique: not served by a plain index on its keys")
	}
}
